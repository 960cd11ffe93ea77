package stack

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// PullPolicy is --pull: missing (default), always, never.
type PullPolicy string

const (
	PullMissing PullPolicy = "missing"
	PullAlways  PullPolicy = "always"
	PullNever   PullPolicy = "never"
)

// ParsePullPolicy accepts --pull's values; "" is missing.
func ParsePullPolicy(s string) (PullPolicy, error) {
	switch p := PullPolicy(s); p {
	case "":
		return PullMissing, nil
	case PullMissing, PullAlways, PullNever:
		return p, nil
	}
	return "", fmt.Errorf("--pull=%s: want missing, always or never", s)
}

// MissingImages returns the images of containers the engine does not have,
// each with the services that use it.
func (s *Stack) MissingImages(ctx context.Context, containers []Container) (map[string][]string, error) {
	missing := map[string][]string{}
	for _, c := range containers {
		if _, done := missing[c.Image]; done {
			missing[c.Image] = append(missing[c.Image], c.Service)
			continue
		}
		_, err := s.cli.ImageInspect(ctx, c.Image)
		switch {
		case err == nil:
		case cerrdefs.IsNotFound(err):
			missing[c.Image] = []string{c.Service}
		default:
			return nil, fmt.Errorf("stack: inspect image %s: %w", c.Image, err)
		}
	}
	return missing, nil
}

// ImagesToPull returns the images containers need pulled under policy
// (each with the services that use it): the missing ones, or all with
// PullAlways. With PullNever a missing image is an error naming the
// settings that point jan at another.
func (s *Stack) ImagesToPull(ctx context.Context, containers []Container, policy PullPolicy) (map[string][]string, error) {
	if policy == PullAlways {
		want := map[string][]string{}
		for _, c := range containers {
			want[c.Image] = append(want[c.Image], c.Service)
		}
		return want, nil
	}
	missing, err := s.MissingImages(ctx, containers)
	if err != nil || policy != PullNever || len(missing) == 0 {
		return missing, err
	}
	images := sortedImages(missing)
	lines := make([]string, len(images))
	for i, img := range images {
		svc := missing[img][0]
		lines[i] = fmt.Sprintf("  %s (service %s; --image %s=REF or %s)", img, svc, svc, ImageEnv(svc))
	}
	return nil, fmt.Errorf("stack: --pull=never, and these images are not present: load them (docker load) or point jan at images you have:\n%s",
		strings.Join(lines, "\n"))
}

// Pull fetches images (as ImagesToPull returns them) all at once,
// reporting StepPull events with the bytes of each image so far.
func (s *Stack) Pull(ctx context.Context, images map[string][]string) error {
	list := sortedImages(images)
	var wg sync.WaitGroup
	errs := make([]error, len(list))
	for i, img := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.pullOne(ctx, img, images[img])
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func sortedImages(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for img := range m {
		out = append(out, img)
	}
	sort.Strings(out)
	return out
}

func (s *Stack) pullOne(ctx context.Context, img string, services []string) error {
	fail := func(err error) error {
		return fmt.Errorf("stack: pull %s (service %s): %v — check the network and the name, or use a mirror: --image %s=REF or %s",
			img, services[0], err, services[0], ImageEnv(services[0]))
	}
	s.report(Event{Service: services[0], Step: StepPull, Detail: img})
	resp, err := s.cli.ImagePull(ctx, img, client.ImagePullOptions{})
	if err != nil {
		return fail(err)
	}
	defer resp.Close()
	layers := map[string][2]int64{}
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return fail(err)
		}
		if msg.Error != nil {
			return fail(fmt.Errorf("%s", msg.Error.Message))
		}
		if msg.Progress != nil && msg.ID != "" && msg.Progress.Total > 0 {
			layers[msg.ID] = [2]int64{msg.Progress.Current, msg.Progress.Total}
			var cur, total int64
			for _, l := range layers {
				cur += l[0]
				total += l[1]
			}
			s.report(Event{Service: services[0], Step: StepPull, Detail: img, Current: cur, Total: total})
		}
	}
	s.report(Event{Service: services[0], Step: StepPulled, Detail: img})
	return nil
}
