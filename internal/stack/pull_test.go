package stack_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/client"

	"github.com/janhq/jan/internal/stack"
)

// registry serves one image over the Docker Registry HTTP API v2 (the
// read side): enough for the engine to pull it. The engine trusts
// 127.0.0.0/8 registries over plain HTTP.
type registry struct {
	manifest []byte
	blobs    map[string][]byte // digest → content
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// newRegistry serves a fresh image: one layer of random bytes (so the
// engine has to download it, with progress), and a config naming it.
func newRegistry(t *testing.T) string {
	t.Helper()
	noise := make([]byte, 8<<20)
	_, _ = rand.Read(noise)
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	_ = tw.WriteHeader(&tar.Header{Name: "noise", Mode: 0o644, Size: int64(len(noise))})
	_, _ = tw.Write(noise)
	tw.Close()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(layer.Bytes())
	w.Close()
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Entrypoint": []string{"/noise"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(layer.Bytes())}},
	})
	r := &registry{blobs: map[string][]byte{digest(cfg): cfg, digest(gz.Bytes()): gz.Bytes()}}
	type desc struct {
		MediaType string `json:"mediaType"`
		Size      int    `json:"size"`
		Digest    string `json:"digest"`
	}
	r.manifest, _ = json.Marshal(struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, "application/vnd.docker.distribution.manifest.v2+json",
		desc{"application/vnd.docker.container.image.v1+json", len(cfg), digest(cfg)},
		[]desc{{"application/vnd.docker.image.rootfs.diff.tar.gzip", gz.Len(), digest(gz.Bytes())}}})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func (r *registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	path := req.URL.Path
	switch {
	case path == "/v2/" || path == "/v2":
		w.WriteHeader(http.StatusOK)
	case strings.Contains(path, "/manifests/"):
		w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
		w.Header().Set("Docker-Content-Digest", digest(r.manifest))
		w.Header().Set("Content-Length", fmt.Sprint(len(r.manifest)))
		if req.Method != http.MethodHead {
			_, _ = w.Write(r.manifest)
		}
	case strings.Contains(path, "/blobs/"):
		d := path[strings.LastIndex(path, "/")+1:]
		b, ok := r.blobs[d]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Header().Set("Docker-Content-Digest", d)
		if req.Method != http.MethodHead {
			_, _ = w.Write(b)
		}
	default:
		http.NotFound(w, req)
	}
}

// Pulls: what is missing is pulled, with byte progress; --pull=never
// names what is missing and the settings to change; a registry that
// cannot be reached is an error naming the image, the service and the fix.
func TestPull(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	addr := newRegistry(t)
	ref := addr + "/" + f.project + "/kong:pulled"
	t.Cleanup(func() { _, _ = f.cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true}) })

	cs := f.containers(t, "IMG_VLLM", ref)
	if _, err := f.st.ImagesToPull(ctx, cs, stack.PullNever); err == nil ||
		!strings.Contains(err.Error(), ref+" (service vllm-cpu; --image vllm-cpu=REF or JAN_IMAGE_VLLM_CPU)") {
		t.Errorf("--pull=never with %s missing: %v", ref, err)
	}
	want, err := f.st.ImagesToPull(ctx, cs, stack.PullMissing)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 1 || want[ref] == nil {
		t.Fatalf("to pull: %v, want only %s", want, ref)
	}
	var mu sync.Mutex
	var progress, pulled int
	var total int64
	f.st.Report = func(e stack.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Step {
		case stack.StepPull:
			if e.Total > 0 {
				progress++
				total = e.Total
			}
		case stack.StepPulled:
			pulled++
		}
	}
	if err := f.st.Pull(ctx, want); err != nil {
		t.Fatal(err)
	}
	if progress == 0 || total == 0 || pulled != 1 {
		t.Errorf("progress events %d (total %d bytes), pulled %d", progress, total, pulled)
	}
	if _, err := f.cli.ImageInspect(ctx, ref); err != nil {
		t.Errorf("after the pull: %v", err)
	}
	if again, err := f.st.ImagesToPull(ctx, cs, stack.PullMissing); err != nil || len(again) != 0 {
		t.Errorf("still to pull after pulling: %v %v", again, err)
	}

	gone := "127.0.0.1:1/" + f.project + "/nothing:1"
	err = f.st.Pull(ctx, map[string][]string{gone: {"kong"}})
	if err == nil || !strings.Contains(err.Error(), "pull "+gone+" (service kong)") || !strings.Contains(err.Error(), "--image kong=REF or JAN_IMAGE_KONG") {
		t.Errorf("pull from nowhere: %v", err)
	}
}
