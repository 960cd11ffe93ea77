package server

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/janhq/jan/internal/store/pgtest"
)

// Two replicas on one Postgres, each with its own data dir and its own key
// file, sign and verify with the key in the database: a token from one
// works on the other, and both publish the same JWKS.
func TestReplicasShareSigningKeys(t *testing.T) {
	dsn := pgtest.URL(t)
	const public = "http://jan.replicas.test" // the load balancer's address: the tokens' issuer
	a := newEnv(t, envOptions{dsn: dsn, publicURL: public})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(other)
	b := newEnv(t, envOptions{dsn: dsn, publicURL: public, keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})})

	tokA, tokB := a.guest(), b.guest()
	for _, c := range []struct {
		name string
		e    *env
		tok  string
	}{{"A's token on B", b, tokA}, {"B's token on A", a, tokB}} {
		if r := c.e.do("GET", "/v1/models", c.tok, nil, nil); r.status != 200 {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	jwksA := a.do("GET", "/.well-known/jwks.json", "", nil, nil)
	jwksB := b.do("GET", "/.well-known/jwks.json", "", nil, nil)
	if string(jwksA.body) != string(jwksB.body) {
		t.Errorf("the replicas publish different keys:\n%s\n%s", jwksA.body, jwksB.body)
	}
	// A conversation made through A is B's to read: the same principal.
	conv := a.newConversation(tokA, "hello")
	if r := b.do("GET", "/v1/conversations/"+conv, tokA, nil, nil); r.status != 200 {
		t.Errorf("A's conversation through B: %d %s", r.status, r.body)
	}
}
