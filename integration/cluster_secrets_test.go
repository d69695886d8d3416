package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharf-dev/wharf/cluster/member"
	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// Secrets, task volumes and stacks on a manager and two workers in their
// own namespaces (one cluster for both parts: starting it is most of the
// time).
//
// Secrets and task volumes on a manager and two workers in their own
// namespaces: `wharf secret create` seals the value in the KV (the raw
// entry holds no clear text) and every node got the key at its join; a
// task referencing it by name (environment) and by ARN (a /run/secrets
// file on a tmpfs) sees the value, with a host volume and a task-scoped
// volume mounted; DescribeTasks and the daemons' logs never show the
// value; stopping the task unmounts its secrets and removes its volume;
// a task with an unknown secret fails with ECS's reason; secret ls and
// rm work.
func TestClusterSecretsVolumesAndStacks(t *testing.T) {
	c := newTaskCluster(t)
	t.Run("SecretsAndVolumes", func(t *testing.T) { testSecretsAndVolumes(t, c) })
	t.Run("StackDeploy", func(t *testing.T) { testStackDeploy(t, c) })
}

func testSecretsAndVolumes(t *testing.T, c *taskCluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var rb [12]byte
	_, _ = rand.Read(rb[:])
	value := "pw-" + hex.EncodeToString(rb[:])
	if out, errOut, code := c.m.WharfStdin(t, []byte(value), "secret", "create", "db_pass"); code != 0 || strings.TrimSpace(out) != "db_pass" {
		t.Fatalf("secret create: %q %q %d", out, errOut, code)
	}
	if _, _, code := c.m.WharfStdin(t, []byte(value), "secret", "create", "db_pass"); code == 0 {
		t.Fatal("a second create of one name succeeded")
	}
	if ls := c.workers[0].MustWharf(t, "secret", "ls", "-q"); strings.TrimSpace(ls) != "db_pass" {
		t.Fatalf("secret ls on a worker: %q", ls)
	}
	key, err := os.ReadFile(secrets.KeyPath(member.Dir(c.m.Root)))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range c.workers {
		wk, err := os.ReadFile(secrets.KeyPath(member.Dir(w.Root)))
		if err != nil || !bytes.Equal(wk, key) {
			t.Fatalf("%s's secrets key: %v", w.Netns, err)
		}
		if fi, _ := os.Stat(secrets.KeyPath(member.Dir(w.Root))); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s's key file mode %v", w.Netns, fi.Mode().Perm())
		}
	}

	// A second secret through Secrets Manager's API: the aws CLI where
	// installed, else `wharf secret create`.
	apiValue := "api-" + hex.EncodeToString(rb[:4])
	if bin, err := exec.LookPath("aws"); err == nil {
		var k struct{ AccessKeyId, SecretAccessKey string }
		if err := json.Unmarshal([]byte(c.m.MustWharf(t, "keys", "create", "--json", "--policy", "secretsmanager:*:*")), &k); err != nil {
			t.Fatal(err)
		}
		awsSM := func(args ...string) string {
			cctx, ccancel := context.WithTimeout(ctx, time.Minute)
			defer ccancel()
			cmd := exec.CommandContext(cctx, bin, append([]string{"--endpoint-url", "http://" + httpAddr(c.m.Addr), "--region", "us-east-1", "--output", "json", "secretsmanager"}, args...)...)
			cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+k.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+k.SecretAccessKey,
				"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("aws secretsmanager %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		if out := awsSM("create-secret", "--name", "api_key", "--secret-string", apiValue); !strings.Contains(out, "secret:api_key") {
			t.Fatalf("create-secret: %s", out)
		}
		if out := awsSM("list-secrets"); !strings.Contains(out, `"db_pass"`) || !strings.Contains(out, `"api_key"`) {
			t.Fatalf("list-secrets: %s", out)
		}
	} else {
		t.Log("the aws CLI is not installed: the secret is created with wharf secret create (the SDK tests cover the API)")
		c.m.WharfStdin(t, []byte(apiValue), "secret", "create", "api_key")
	}

	// The raw KV entry, read as any NATS client of the cluster can.
	nc := clusterConn(t, c.net, c.m)
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "secrets")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := kv.Get(ctx, "db_pass")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw.Value(), []byte(value)) || bytes.Contains(raw.Value(), []byte(base64.StdEncoding.EncodeToString([]byte(value)))) {
		t.Fatalf("the KV holds the secret in clear: %s", raw.Value())
	}

	out := t.TempDir()
	arn := "arn:aws:secretsmanager:us-east-1:000000000000:secret:db_pass"
	_, err = c.ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("secretive"),
		Volumes: []ecstypes.Volume{{Name: aws.String("out"), Host: &ecstypes.HostVolumeProperties{SourcePath: aws.String(out)}},
			{Name: aws.String("scratch"), DockerVolumeConfiguration: &ecstypes.DockerVolumeConfiguration{Scope: ecstypes.ScopeTask, Driver: aws.String("local")}}},
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("main"), Image: aws.String(busybox), Memory: aws.Int32(32), StopTimeout: aws.Int32(1),
			Secrets: []ecstypes.Secret{{Name: aws.String("DB_PASS"), ValueFrom: aws.String("db_pass")},
				{Name: aws.String("API_KEY"), ValueFrom: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:api_key")},
				{Name: aws.String("/run/secrets/db"), ValueFrom: aws.String(arn)}},
			MountPoints: []ecstypes.MountPoint{{SourceVolume: aws.String("out"), ContainerPath: aws.String("/out")},
				{SourceVolume: aws.String("scratch"), ContainerPath: aws.String("/scratch")}},
			Command: []string{"sh", "-c", `echo "$DB_PASS" > /out/env; echo "$API_KEY" > /out/api; cat /run/secrets/db > /out/file; echo x > /scratch/x && ls /scratch > /out/scratch; grep -c ' /run/secrets ' /proc/mounts > /out/mounted; exec sleep 3600`},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("secretive")})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("run task: %+v %v", run, err)
	}
	taskARN := aws.ToString(run.Tasks[0].TaskArn)
	until(t, 60*time.Second, "the task writes what it sees", func() (bool, string) {
		data, err := os.ReadFile(filepath.Join(out, "mounted"))
		return err == nil && len(data) > 0, "no /out/mounted yet"
	})
	for f, want := range map[string]string{"env": value + "\n", "api": apiValue + "\n", "file": value, "scratch": "x\n", "mounted": "1\n"} {
		if data, err := os.ReadFile(filepath.Join(out, f)); err != nil || string(data) != want {
			t.Fatalf("/out/%s: %q %v, want %q", f, data, err, want)
		}
	}
	ts := c.describe(t, ctx, []string{taskARN})
	js2, _ := json.Marshal(ts)
	if bytes.Contains(js2, []byte(value)) {
		t.Fatalf("DescribeTasks shows the secret: %s", js2)
	}
	var node *testutil.Node
	for _, d := range c.all() {
		if len(taskContainers(t, d, "ecs-secretive-")) == 1 {
			node = d
		}
	}
	if node == nil {
		t.Fatal("no node runs the task's container")
	}
	tid := shortID(taskARN)
	vol := "ecs-secretive-1-scratch-" + tid
	if vs := node.MustWharf(t, "volume", "ls", "-q"); !strings.Contains(vs, vol) {
		t.Fatalf("the task volume %s is not on its node: %q", vol, vs)
	}
	secretsMnt := filepath.Join(node.ExecRoot, "task-secrets", tid)
	if ms := testutil.MountsUnder(secretsMnt); len(ms) != 1 {
		t.Fatalf("the task's secrets tmpfs: %v", ms)
	}

	if _, err := c.ec.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(taskARN)}); err != nil {
		t.Fatal(err)
	}
	until(t, 60*time.Second, "the task's volume and secrets go with it", func() (bool, string) {
		vs := node.MustWharf(t, "volume", "ls", "-q")
		ms := testutil.MountsUnder(secretsMnt)
		return !strings.Contains(vs, vol) && len(ms) == 0, "volumes " + vs + " mounts " + strings.Join(ms, ",")
	})

	// An unknown secret.
	_, err = c.ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("nosecret"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("main"), Image: aws.String(busybox), Memory: aws.Int32(32),
			Secrets: []ecstypes.Secret{{Name: aws.String("P"), ValueFrom: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:nope")}},
			Command: []string{"sleep", "3600"}}}})
	if err != nil {
		t.Fatal(err)
	}
	run, err = c.ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("nosecret")})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("run task: %+v %v", run, err)
	}
	bad := aws.ToString(run.Tasks[0].TaskArn)
	until(t, 60*time.Second, "the task with an unknown secret fails", func() (bool, string) {
		x := c.describe(t, ctx, []string{bad})[0]
		return aws.ToString(x.LastStatus) == "STOPPED", aws.ToString(x.LastStatus)
	})
	x := c.describe(t, ctx, []string{bad})[0]
	if x.StopCode != ecstypes.TaskStopCodeTaskFailedToStart || !strings.HasPrefix(aws.ToString(x.StoppedReason), "ResourceInitializationError: unable to pull secrets") {
		t.Fatalf("task with an unknown secret: %s %q", x.StopCode, aws.ToString(x.StoppedReason))
	}

	// An invalid reference is refused at registration.
	if _, err := c.ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("badref"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("main"), Image: aws.String(busybox), Memory: aws.Int32(32),
			Secrets: []ecstypes.Secret{{Name: aws.String("P"), ValueFrom: aws.String("arn:aws:s3:::bucket/key")}}}}}); err == nil {
		t.Fatal("a valueFrom naming no secret was registered")
	}

	for _, d := range c.all() {
		if data, _ := os.ReadFile(d.LogPath); bytes.Contains(data, []byte(value)) {
			t.Fatalf("%s's daemon log shows the secret", d.Netns)
		}
	}
	c.m.MustWharf(t, "secret", "rm", "db_pass", "api_key")
	if ls := c.m.MustWharf(t, "secret", "ls", "-q"); strings.TrimSpace(ls) != "" {
		t.Fatalf("secret ls after rm: %q", ls)
	}
}
