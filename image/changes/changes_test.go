package changes

import (
	"testing"

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
