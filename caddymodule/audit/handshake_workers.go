package audit

import "crypto/tls"

// maxIdleHandshakeWorkers bounds how many handshake goroutines wait for
// the next connection once their handshake is done. A burst of slow
// clients may run many more at once; the ones beyond this bound end when
// their handshake does.
const maxIdleHandshakeWorkers = 64

// dispatch hands an accepted connection to a waiting handshake worker, or
// starts a new one when none waits: a slow or idle client still holds
// only its own goroutine.
//
// Workers are reused because a TLS 1.3 handshake with X25519MLKEM768
// grows a new goroutine's stack from its few KB to tens of KB, copying it
// at every doubling: about 3 % of crgate's CPU per handshake-per-request
// (docs/performance.md, "Handshakes"). A reused worker keeps its stack
// until the garbage collector shrinks an idle one.
func (l *handshakeListener) dispatch(tc *tls.Conn) {
	select {
	case l.work <- tc:
	default:
		l.workersStarted.Add(1)
		go l.worker(tc)
	}
}

// worker handshakes tc, then waits for the next connection while fewer
// than maxIdleHandshakeWorkers others wait, until the listener closes.
func (l *handshakeListener) worker(tc *tls.Conn) {
	for {
		l.handshake(tc)
		if l.idleWorkers.Add(1) > maxIdleHandshakeWorkers {
			l.idleWorkers.Add(-1)
			return
		}
		select {
		case tc = <-l.work:
			l.idleWorkers.Add(-1)
		case <-l.closed:
			l.idleWorkers.Add(-1)
			return
		}
	}
}
