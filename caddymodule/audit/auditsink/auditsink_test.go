package auditsink

import (
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/crgate/crgate/internal/auditrec"
)

// TestCloneSharesNoMemory: every string of a cloned event (every field of
// the Record, nested ones included, whatever fields are added later) and
// its JSON live in memory of their own, with the same content.
func TestCloneSharesNoMemory(t *testing.T) {
	rec := &auditrec.Record{Time: time.Now()}
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		for i := range v.NumField() {
			f := v.Field(i)
			switch {
			case !f.CanSet():
			case f.Kind() == reflect.String:
				f.SetString("value of " + v.Type().Field(i).Name)
			case f.Kind() == reflect.Struct:
				fill(f)
			}
		}
	}
	fill(reflect.ValueOf(rec).Elem())
	ev := Event{Seq: 7, ID: rec.ID, Recorded: rec.Time, JSON: []byte(`{"id":"x"}`), Record: rec}
	c := ev.Clone()
	if !reflect.DeepEqual(c, ev) {
		t.Fatalf("the clone differs:\n got %+v\nwant %+v", c, ev)
	}
	if &c.JSON[0] == &ev.JSON[0] || c.Record == ev.Record || unsafe.StringData(c.ID) == unsafe.StringData(ev.ID) {
		t.Error("the clone shares the JSON, the Record or the ID")
	}
	var check func(path string, a, b reflect.Value)
	check = func(path string, a, b reflect.Value) {
		for i := range a.NumField() {
			fa, fb, name := a.Field(i), b.Field(i), path+a.Type().Field(i).Name
			switch {
			case !fa.CanInterface():
			case fa.Kind() == reflect.String:
				if unsafe.StringData(fa.String()) == unsafe.StringData(fb.String()) {
					t.Errorf("%s shares its memory with the original", name)
				}
			case fa.Kind() == reflect.Struct:
				check(name+".", fa, fb)
			}
		}
	}
	check("", reflect.ValueOf(c.Record).Elem(), reflect.ValueOf(rec).Elem())
}
