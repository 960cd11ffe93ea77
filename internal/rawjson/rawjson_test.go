package rawjson

import (
	"encoding/json"
	"reflect"
	"testing"
)

// members collects Object's view of b.
func members(b string) (names []string, values []string, ok bool) {
	ok = Object([]byte(b), func(n, v []byte) bool {
		names, values = append(names, string(n)), append(values, string(v))
		return true
	})
	return
}

func TestObject(t *testing.T) {
	for _, c := range []struct {
		in            string
		names, values []string
	}{
		{`{}`, nil, nil},
		{" { } ", nil, nil},
		{`{"a":1,"b":"x","c":[1,{"d":"]}"}],"e":{"f":null},"g":true}`,
			[]string{"a", "b", "c", "e", "g"}, []string{`1`, `"x"`, `[1,{"d":"]}"}]`, `{"f":null}`, `true`}},
		{"{\n \"a\" :\t-1.5e3 ,\r\n\"b\" : \"q\\\"}\" }", []string{"a", "b"}, []string{`-1.5e3`, `"q\"}"`}},
		{`{"\u0061\n":0,"a":1}`, []string{"a\n", "a"}, []string{`0`, `1`}},
		{"{\"\xff\":0}", []string{"\ufffd"}, []string{`0`}},
	} {
		if !json.Valid([]byte(c.in)) {
			t.Fatalf("%q: not valid JSON (the precondition)", c.in)
		}
		names, values, ok := members(c.in)
		if !ok || !reflect.DeepEqual(names, c.names) || !reflect.DeepEqual(values, c.values) {
			t.Errorf("Object(%q) = %q %q %v, want %q %q", c.in, names, values, ok, c.names, c.values)
		}
	}
	for _, in := range []string{`[]`, `"x"`, `1`, `null`, ``, ` `} {
		if _, _, ok := members(in); ok {
			t.Errorf("Object(%q) reported an object", in)
		}
	}
	n := 0
	Object([]byte(`{"a":1,"b":2,"c":3}`), func(_, _ []byte) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("Object went on after fn returned false: %d calls", n)
	}
}

func TestArray(t *testing.T) {
	var got []string
	ok := Array([]byte(` [ 1 , "a,]" ,{"b":[2]}, [], null ] `), func(v []byte) bool {
		got = append(got, string(v))
		return true
	})
	if want := []string{`1`, `"a,]"`, `{"b":[2]}`, `[]`, `null`}; !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("Array = %q %v, want %q", got, ok, want)
	}
	if !Array([]byte(`[]`), func([]byte) bool { t.Error("element in []"); return true }) {
		t.Error("[] is an array")
	}
	if Array([]byte(`{}`), func([]byte) bool { return true }) {
		t.Error("{} is not an array")
	}
}

// TestString: String decodes as json.Unmarshal into a string does.
func TestString(t *testing.T) {
	for _, in := range []string{`"plain"`, `""`, `"tab\tand \"quote\" \u00e9 \ud83d\ude00"`, "\"caf\xc3\xa9\"", "\"bad \xff utf-8\"", `"\ud800 lone"`} {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got, ok := String([]byte(in)); !ok || got != want {
			t.Errorf("String(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{`1`, `null`, `["x"]`, `"`, ``} {
		if _, ok := String([]byte(in)); ok {
			t.Errorf("String(%q) reported a string", in)
		}
	}
}
