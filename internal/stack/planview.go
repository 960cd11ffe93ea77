package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// PlanView is a plan as jan up --dry-run shows it: what would run, from
// which images, on which ports, chosen why, and the settings the llm-api
// server would get. It never holds a secret's value: only where each
// secret comes from, and "********" wherever a setting contains one.
type PlanView struct {
	Project   string        `json:"project"`
	Inference Decision      `json:"inference"`
	Engine    *Engine       `json:"engine,omitempty"` // --inference external: the engine instead of vLLM
	Identity  Decision      `json:"identity"`
	Without   []Decision    `json:"without,omitempty"` // services left out (--without) and what that changes
	Server    ServerView    `json:"server"`
	Services  []ServiceView `json:"services"` // in start order
	Secrets   []SecretView  `json:"secrets"`
	Images    ImagesView    `json:"images"`
}

// Decision is a choice jan up makes and why, in words for people.
type Decision struct {
	Choice string `json:"choice"`
	Reason string `json:"reason"`
}

// ServerView is the llm-api server jan up would run in its own process.
type ServerView struct {
	Addr     string            `json:"addr"`
	Settings map[string]string `json:"settings"` // the environment it is wired with, secrets masked
}

// ServiceView is one container.
type ServiceView struct {
	Name      string   `json:"name"`
	Image     string   `json:"image"`
	Ports     []string `json:"ports,omitempty"` // host → container: "127.0.0.1:5432→5432/tcp"
	DependsOn []string `json:"depends_on,omitempty"`
	GPU       bool     `json:"gpu,omitempty"`
}

// SecretView says where a secret would come from.
type SecretView struct {
	Name   string `json:"name"`
	Source string `json:"source"` // environment, file, or generated (not yet: a dry run writes nothing)
}

// ImagesView is what jan up would pull: known only with a Docker engine.
type ImagesView struct {
	Checked bool     `json:"checked"`
	Pull    []string `json:"pull,omitempty"` // images not on the engine (or every image with --pull=always)
	Note    string   `json:"note,omitempty"` // why they were not checked, or what --pull=never would refuse
}

// masked replaces a secret's value wherever it appears.
const masked = "********"

// View is the plan for people and scripts, with the inference choice's
// reason. dataDir is written as "<data-dir>" in paths, so the view reads
// the same on every machine.
func (p *Plan) View(reason string, dataDir string, images ImagesView) PlanView {
	inf := p.VLLMService()
	if p.Engine != nil {
		inf = string(ProfileExternal)
	}
	v := PlanView{
		Project:   p.Env[ProjectEnv],
		Inference: Decision{Choice: inf, Reason: reason},
		Engine:    p.Engine,
		Identity:  Decision{Choice: ServiceKeycloak, Reason: "the stack's Keycloak, with the jan realm; the server verifies its tokens and issues guest tokens itself"},
		Images:    images,
	}
	if v.Project == "" {
		v.Project = DefaultProject
	}
	if p.Issuer != "" {
		guests := "guests come from jan's own issuer (--guests=off refuses them)"
		if p.NoGuests {
			guests = "guests are refused (--guests=off)"
		}
		signIn := "; no --client-id, so no jan login --web: clients bring the provider's tokens"
		if p.ClientID != "" {
			signIn = "; jan login --web signs in there as client " + p.ClientID + " (register " + p.LoginRedirect() + " as its redirect URI; a confidential client's secret goes in JAN_OIDC_CLIENT_SECRET)"
		}
		v.Identity = Decision{Choice: "external issuer", Reason: "--issuer " + p.Issuer + ": no Keycloak; the server verifies that issuer's tokens (JAN_OIDC_AUDIENCE sets the audience it requires, JAN_OIDC_USERNAME_CLAIM the claim read as the username); accounts are managed there, " + guests + signIn}
	}
	for _, w := range p.Without {
		v.Without = append(v.Without, Decision{Choice: w, Reason: Optional[w]})
	}
	hide := func(s string) string {
		for _, val := range p.Secrets.Env() {
			if val != "" {
				s = strings.ReplaceAll(s, val, masked)
			}
		}
		if dataDir != "" {
			s = strings.ReplaceAll(s, dataDir, "<data-dir>")
		}
		return s
	}
	v.Server = ServerView{Addr: p.ServerAddr, Settings: map[string]string{}}
	for k, val := range p.ServerEnv(dataDir + "/" + ProvidersFile) {
		v.Server.Settings[k] = hide(val)
	}
	for _, c := range p.Containers {
		s := ServiceView{Name: c.Service, Image: c.Image, GPU: len(c.GPUs) > 0}
		for _, pt := range c.Ports {
			host := pt.HostIP
			if host == "" {
				host = "0.0.0.0"
			}
			s.Ports = append(s.Ports, fmt.Sprintf("%s:%s→%d/%s", host, pt.HostPort, pt.ContainerPort, pt.Protocol))
		}
		for _, d := range c.DependsOn {
			s.DependsOn = append(s.DependsOn, d.Service)
		}
		v.Services = append(v.Services, s)
	}
	for _, n := range SecretNames {
		v.Secrets = append(v.Secrets, SecretView{Name: n, Source: string(p.Secrets.Source(n))})
	}
	return v
}

// CheckImages fills an ImagesView from the engine: the images jan up would
// pull under policy. With no engine (st nil), why says what could not be
// checked.
func CheckImages(ctx context.Context, st *Stack, containers []Container, policy PullPolicy, why error) ImagesView {
	if st == nil {
		note := "not checked: no Docker engine"
		if why != nil {
			note = "not checked: " + firstLine(why.Error())
		}
		return ImagesView{Note: note}
	}
	want, err := st.ImagesToPull(ctx, containers, policy)
	if err != nil {
		return ImagesView{Checked: true, Note: err.Error()}
	}
	return ImagesView{Checked: true, Pull: sortedImages(want)}
}

// JSON is the view as indented JSON, "<" and "→" as they are.
func (v PlanView) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteText writes the view for people.
func (v PlanView) WriteText(w io.Writer) {
	fmt.Fprintf(w, "Plan for jan up (project %s); nothing was started or written.\n\n", v.Project)
	fmt.Fprintf(w, "Inference  %s: %s\n", v.Inference.Choice, v.Inference.Reason)
	if v.Engine != nil {
		fmt.Fprintf(w, "Engine     %s at %s, models: %s\n", v.Engine.Name, v.Engine.URL, strings.Join(v.Engine.Models, ", "))
	}
	fmt.Fprintf(w, "Identity   %s: %s\n", v.Identity.Choice, v.Identity.Reason)
	for _, o := range v.Without {
		fmt.Fprintf(w, "Without    %s: %s\n", o.Choice, o.Reason)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Services, in start order:")
	for _, s := range v.Services {
		line := fmt.Sprintf("  %-15s %s", s.Name, s.Image)
		if len(s.Ports) > 0 {
			line += "  " + strings.Join(s.Ports, ", ")
		}
		if s.GPU {
			line += "  (GPU)"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "  %-15s in this process on %s\n\n", "llm-api", v.Server.Addr)
	switch {
	case !v.Images.Checked:
		fmt.Fprintf(w, "Images: %s.\n", strings.TrimRight(v.Images.Note, "."))
	case v.Images.Note != "":
		fmt.Fprintf(w, "Images: %s\n", v.Images.Note)
	case len(v.Images.Pull) == 0:
		fmt.Fprintln(w, "Images: all present; nothing to pull.")
	default:
		fmt.Fprintf(w, "Images to pull: %s\n", strings.Join(v.Images.Pull, ", "))
	}
	fmt.Fprintln(w, "\nSecrets (values never shown):")
	for _, s := range v.Secrets {
		src := s.Source
		if src == string(FromGenerated) {
			src = "would be generated into <data-dir>/" + SecretsFile
		}
		fmt.Fprintf(w, "  %-24s %s\n", s.Name, src)
	}
	fmt.Fprintln(w, "\nThe server's settings:")
	keys := make([]string, 0, len(v.Server.Settings))
	for k := range v.Server.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s=%s\n", k, v.Server.Settings[k])
	}
}
