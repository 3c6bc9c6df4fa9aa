package proxy

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"strings"
	"testing"
)

func TestCompressedRequestBodyIsClassified(t *testing.T) {
	e := newEnv(t, envOptions{})
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	fmt.Fprint(zw, `{"compositeRequest":[{"method":"DELETE","url":"/services/data/v60.0/sobjects/Contact/003000000000001AAA","referenceId":"d"}]}`)
	zw.Close()
	resp := e.do("POST", "/services/data/v60.0/composite", bearer(internKey), &zb, "Content-Type", "application/json", "Content-Encoding", "gzip")
	body := readAll(t, resp)
	if resp.StatusCode != 403 {
		t.Fatalf("a delete hidden in a gzip body: %d %s", resp.StatusCode, body)
	}
	// HTTP's "deflate" is zlib-wrapped.
	var db bytes.Buffer
	dw := zlib.NewWriter(&db)
	fmt.Fprint(dw, `{"compositeRequest":[{"method":"DELETE","url":"/services/data/v60.0/sobjects/Contact/003000000000001AAA","referenceId":"d"}]}`)
	dw.Close()
	resp = e.do("POST", "/services/data/v60.0/composite", bearer(internKey), &db, "Content-Type", "application/json", "Content-Encoding", "deflate")
	body = readAll(t, resp)
	if resp.StatusCode != 403 {
		t.Fatalf("a delete hidden in a deflate body: %d %s", resp.StatusCode, body)
	}
	resp = e.do("POST", "/services/data/v60.0/composite", bearer(internKey), strings.NewReader("x"), "Content-Encoding", "br")
	readAll(t, resp)
	if resp.StatusCode != 415 {
		t.Fatalf("unknown request encoding: want 415, got %d", resp.StatusCode)
	}
	if n := len(e.crm.Requests()); n != 0 {
		t.Fatalf("%d requests reached the CRM", n)
	}
}

func TestRequestBodyOverLimitIs413(t *testing.T) {
	e := newEnv(t, envOptions{extraYAML: ""})
	big := strings.Repeat("a", 11<<20)
	resp := e.do("POST", "/services/data/v60.0/sobjects/Contact", bearer(repKey), strings.NewReader(`{"LastName":"`+big+`"}`), "Content-Type", "application/json")
	readAll(t, resp)
	if resp.StatusCode != 413 {
		t.Fatalf("want 413, got %d", resp.StatusCode)
	}
}
