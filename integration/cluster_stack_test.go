package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// `wharf stack deploy` of a two-service compose file reaches running
// tasks (one service reading an external secret from /run/secrets); a
// redeploy with a changed environment rolls that service to a new
// revision and leaves the other; a service dropped from the file is
// removed; `wharf stack rm` removes the rest and their tasks stop.
func testStackDeploy(t *testing.T, c *taskCluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c.m.WharfStdin(t, []byte("stack-secret-value"), "secret", "create", "stack_pw")
	out := t.TempDir()
	dir := t.TempDir()
	compose := filepath.Join(dir, "compose.yml")
	write := func(rev string, withCron bool) {
		y := `
services:
  web:
    image: ` + busybox + `
    command: ["sh", "-c", "cat /run/secrets/pw > /out/web-$$REV-$$HOSTNAME; exec sleep 3600"]
    environment:
      REV: "` + rev + `"
    deploy:
      replicas: 2
      resources:
        limits: {memory: 32M}
    stop_grace_period: 1s
    secrets:
      - source: pw
        target: pw
    volumes:
      - ` + out + `:/out
  worker:
    image: ` + busybox + `
    command: ["sleep", "3600"]
    environment:
      TAG: ${TAG}
    stop_grace_period: 1s
`
		if withCron {
			y += "  cron:\n    image: " + busybox + "\n    command: [\"sleep\", \"3600\"]\n    stop_grace_period: 1s\n"
		}
		y += "secrets:\n  pw:\n    external: true\n    name: stack_pw\n"
		if err := os.WriteFile(compose, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("TAG=from-dotenv\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	running := func(svc, family string, n int) func() (bool, string) {
		return func() (bool, string) {
			ts := c.serviceTasks(t, ctx, svc)
			ok := 0
			for _, x := range ts {
				if aws.ToString(x.LastStatus) == "RUNNING" && strings.HasSuffix(aws.ToString(x.TaskDefinitionArn), family) {
					ok++
				}
			}
			return ok == n && len(ts) == n, ""
		}
	}
	write("1", true)
	o := c.m.MustWharf(t, "stack", "deploy", "-c", compose, "app")
	if !strings.Contains(o, "Created service app_web (app_web:1)") || !strings.Contains(o, "Created service app_worker") {
		t.Fatalf("deploy: %s", o)
	}
	until(t, 90*time.Second, "the stack's tasks run", func() (bool, string) {
		a, _ := running("app_web", "app_web:1", 2)()
		b, _ := running("app_worker", "app_worker:1", 1)()
		d, _ := running("app_cron", "app_cron:1", 1)()
		return a && b && d, "not all running"
	})
	until(t, 30*time.Second, "both web tasks read the secret file", func() (bool, string) {
		es, _ := filepath.Glob(filepath.Join(out, "web-1-*"))
		for _, e := range es {
			if data, _ := os.ReadFile(e); string(data) != "stack-secret-value" {
				return false, e + ": " + string(data)
			}
		}
		return len(es) == 2, "files: " + strings.Join(es, ",")
	})
	td := retry(t, "describe the worker's task definition", func() (*ecstypes.TaskDefinition, error) {
		d, err := c.ec.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("app_worker")})
		if err != nil {
			return nil, err
		}
		return d.TaskDefinition, nil
	})
	if env := td.ContainerDefinitions[0].Environment; len(env) != 1 || aws.ToString(env[0].Value) != "from-dotenv" {
		t.Fatalf("the .env file did not interpolate: %+v", env)
	}
	if ls := c.m.MustWharf(t, "stack", "ls"); !strings.Contains(ls, "app") || !strings.Contains(ls, "3") {
		t.Fatalf("stack ls: %s", ls)
	}

	// A redeploy: web's environment changes (a rolling update to
	// revision 2), the worker is unchanged, cron is dropped.
	write("2", false)
	o = c.m.MustWharf(t, "stack", "deploy", "-c", compose, "app")
	if !strings.Contains(o, "Updated service app_web (app_web:2)") || !strings.Contains(o, "Unchanged service app_worker") || !strings.Contains(o, "Removed service app_cron") {
		t.Fatalf("redeploy: %s", o)
	}
	until(t, 90*time.Second, "web rolls to revision 2", running("app_web", "app_web:2", 2))
	until(t, 60*time.Second, "cron's task stops", func() (bool, string) {
		return len(c.serviceTasks(t, ctx, "app_cron")) == 0, ""
	})
	if ok, _ := running("app_worker", "app_worker:1", 1)(); !ok {
		t.Fatal("the unchanged worker did not keep its task")
	}

	o = c.m.MustWharf(t, "stack", "rm", "app")
	if !strings.Contains(o, "app_web") || !strings.Contains(o, "app_worker") {
		t.Fatalf("stack rm: %s", o)
	}
	until(t, 60*time.Second, "the stack's tasks stop", func() (bool, string) {
		n := 0
		for _, d := range c.all() {
			n += len(taskContainers(t, d, "ecs-app_"))
		}
		return n == 0, ""
	})
	if ls := c.m.MustWharf(t, "stack", "ls", "--format", "{{.Name}}"); strings.TrimSpace(ls) != "" {
		t.Fatalf("stack ls after rm: %q", ls)
	}
	// What does not map is refused, naming the key.
	if err := os.WriteFile(compose, []byte("services:\n  a:\n    image: "+busybox+"\n    cap_add: [NET_ADMIN]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := c.m.Wharf(t, "stack", "deploy", "-c", compose, "bad"); code == 0 || !strings.Contains(errOut, "services.a.cap_add") {
		t.Fatalf("an unmappable key: %d %s", code, errOut)
	}
}
