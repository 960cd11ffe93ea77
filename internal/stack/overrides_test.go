package stack

import (
	"strings"
	"testing"
)

func TestOverrides(t *testing.T) {
	env := map[string]string{}
	if err := Overrides(env, []string{"kong=mirror.local/kong:3.9.1"}, []string{"gateway=9000"}); err != nil {
		t.Fatal(err)
	}
	if env[ImageEnv("kong")] != "mirror.local/kong:3.9.1" || env["JAN_GATEWAY_PORT"] != "9000" {
		t.Errorf("env = %v", env)
	}
	for _, c := range []struct {
		images, publish []string
		want            string
	}{
		{[]string{"kong"}, nil, "want SERVICE=REF"},
		{[]string{"nginx=x"}, nil, `no service "nginx"`},
		{nil, []string{"gateway=0"}, "not a port number"},
		{nil, []string{"gateway=65536"}, "not a port number"},
		{nil, []string{"gateway=09000"}, "not a port number"},
		{nil, []string{"web=9000"}, "want NAME=PORT"},
	} {
		if err := Overrides(map[string]string{}, c.images, c.publish); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: %v, want %q", c.images, c.publish, err, c.want)
		}
	}
}
