// Package devpki makes the development PKI (`crgate pki …`): a dev CA, a
// server certificate and client certificates for point-of-service nodes, and
// a CRL. It is for development and tests only; production certificates come
// from the deployment's own CA.
//
// It replaces the openssl recipe in OpenCR's docs. The functions here ([Init],
// [Issue], [Revoke]) work on a directory and know nothing about the command
// line; command.go is the cobra glue that registers `crgate pki`.
//
// A directory made by [Init] looks like this; the names are a contract with
// `make run`, the end-to-end suite and the docs:
//
//	DIR/ca.crt              dev CA certificate (0644)
//	DIR/ca.key              dev CA private key (0600)
//	DIR/ca.crl              CRL signed by the CA, "X509 CRL" PEM (0644)
//	DIR/server.crt          gateway server certificate (0644)
//	DIR/server.key          its private key (0600)
//	DIR/clients/NAME.crt    client certificate made by [Issue] (0644)
//	DIR/clients/NAME.key    its private key (0600)
//	DIR/clients/NAME.p12    optional PKCS#12 bundle (0600)
//	DIR/clients/NAME.p12.pass  its generated password, if one was generated (0600)
//
// Private keys are PKCS#8 "PRIVATE KEY" PEM. Every file is written to a
// temporary file in the same directory and renamed into place, so a crash
// never leaves half a key behind.
package devpki
