package store

import (
	"encoding/json"
	"testing"
)

func TestUsageArg(t *testing.T) {
	if got := usageArg(nil); got != nil {
		t.Errorf("usageArg(nil) = %v, want nil", got)
	}
	for _, u := range []Usage{{}, {12, 8, 20}, {-1, 1 << 40, 0}} {
		want, _ := json.Marshal(&u)
		if got := usageArg(&u); got != string(want) {
			t.Errorf("usageArg(%+v) = %v, want %s", u, got, want)
		}
	}
}
