package changes

import (
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestParseChanges(t *testing.T) {
	cfg, err := Parse([]string{`CMD ["sh"]`, "ENTRYPOINT /bin/init", "ENV A=b", "WORKDIR /w", "USER 1000", "EXPOSE 80 53/udp", "LABEL k=v"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Cmd) != 1 || cfg.Cmd[0] != "sh" || cfg.Entrypoint[2] != "/bin/init" || cfg.Env[0] != "A=b" || cfg.WorkingDir != "/w" ||
		cfg.User != "1000" || len(cfg.ExposedPorts) != 2 || cfg.Labels["k"] != "v" {
		t.Fatalf("%+v", cfg)
	}
	if _, err := Parse([]string{"RUN rm -rf /"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("RUN accepted: %v", err)
	}
}

// Changes apply onto an existing config as a Dockerfile's instructions
// would: ENV and LABEL take several pairs and quotes and replace keys,
// an ENTRYPOINT drops the command unless a CMD came first, WORKDIR is
// relative to the current one.
func TestApply(t *testing.T) {
	cfg := &v1.Config{Env: []string{"PATH=/bin", "A=1"}, Cmd: []string{"sleep", "1"}, WorkingDir: "/srv", Labels: map[string]string{"x": "1"}}
	err := Apply(cfg, []string{`ENV A=2 B="two words" C=a\ b`, "ENV LEGACY value with spaces", `LABEL y="2" z=3`,
		"WORKDIR app", "EXPOSE 8000-8002/udp", "HEALTHCHECK --interval=5s --retries=2 CMD curl -f http://x/", "ONBUILD RUN true"})
	if err != nil {
		t.Fatal(err)
	}
	want := "PATH=/bin A=2 B=two words C=a b LEGACY=value with spaces"
	if got := strings.Join(cfg.Env, " "); got != want {
		t.Errorf("env %q, want %q", got, want)
	}
	if cfg.Labels["x"] != "1" || cfg.Labels["y"] != "2" || cfg.Labels["z"] != "3" || cfg.WorkingDir != "/srv/app" || len(cfg.ExposedPorts) != 3 {
		t.Errorf("labels %v workdir %q ports %v", cfg.Labels, cfg.WorkingDir, cfg.ExposedPorts)
	}
	if h := cfg.Healthcheck; h == nil || strings.Join(h.Test, "|") != "CMD-SHELL|curl -f http://x/" || h.Interval != 5*time.Second || h.Retries != 2 {
		t.Errorf("healthcheck %+v", cfg.Healthcheck)
	}
	if len(cfg.OnBuild) != 1 || cfg.Cmd[0] != "sleep" {
		t.Errorf("onbuild %v cmd %v", cfg.OnBuild, cfg.Cmd)
	}
	if err := Apply(cfg, []string{"ENTRYPOINT [\"/init\"]"}); err != nil || cfg.Cmd != nil {
		t.Errorf("entrypoint kept the command: %v, %v", cfg.Cmd, err)
	}
	cfg = &v1.Config{}
	if err := Apply(cfg, []string{"CMD [\"a\"]", "ENTRYPOINT [\"/init\"]"}); err != nil || len(cfg.Cmd) != 1 {
		t.Errorf("a CMD before the ENTRYPOINT was dropped: %v, %v", cfg.Cmd, err)
	}
	if err := Apply(cfg, []string{"HEALTHCHECK NONE"}); err != nil || cfg.Healthcheck.Test[0] != "NONE" {
		t.Errorf("HEALTHCHECK NONE: %+v, %v", cfg.Healthcheck, err)
	}
	for _, bad := range []string{"ENV", `ENV A="open`, "EXPOSE 99999", "HEALTHCHECK --bogus=1 CMD x", "WORKDIR", "FROM x"} {
		if err := Apply(&v1.Config{}, []string{bad}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
