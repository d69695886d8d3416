package stack

import (
	"context"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
)

func load(t *testing.T, yaml string, env map[string]string) (Mapped, error) {
	t.Helper()
	p, err := Load(context.Background(), "app", Input{Files: []File{{Filename: "compose.yml", Content: []byte(yaml)}}, WorkingDir: "/srv/app", Env: env})
	if err != nil {
		return Mapped{}, err
	}
	return Map("app", p)
}

const full = `
services:
  web:
    image: busybox:latest
    command: ["httpd", "-f", "-p", "8080"]
    entrypoint: ["/bin/sh", "-c"]
    environment:
      A: "1"
      B: ${B_VALUE}
      FROM_CLIENT:
      MISSING:
    ports:
      - "8080:80"
      - target: 53
        protocol: udp
    deploy:
      replicas: 3
      resources:
        limits: {cpus: "0.5", memory: 128M}
        reservations: {memory: 64M}
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O- localhost:80"]
      interval: 10s
      timeout: 3s
      retries: 4
      start_period: 1500ms
    secrets:
      - db_pass
      - source: api
        target: api.key
    volumes:
      - ./data:/data:ro
      - cache:/cache
      - ext:/ext
      - /anon
    stop_grace_period: 5s
    depends_on: [db]
  db:
    image: busybox
secrets:
  db_pass:
    external: true
  api:
    external: true
    name: api_key_v2
volumes:
  cache:
    driver_opts: {type: tmpfs, device: tmpfs}
  ext:
    external: true
`

func TestMapFull(t *testing.T) {
	m, err := load(t, full, map[string]string{"B_VALUE": "two", "FROM_CLIENT": "c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Services) != 2 || m.Services[0].Name != "app_db" || m.Services[1].Name != "app_web" {
		t.Fatalf("services: %+v", m.Services)
	}
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "services.web.depends_on.db") {
		t.Fatalf("warnings: %v", m.Warnings)
	}
	db := m.Services[0]
	if db.DesiredCount != 1 || db.TaskDef.ContainerDefinitions[0].MemoryReservation == nil || *db.TaskDef.ContainerDefinitions[0].MemoryReservation != DefaultMemoryReservation {
		t.Fatalf("db: %+v", db)
	}
	web := m.Services[1]
	td := web.TaskDef
	c := td.ContainerDefinitions[0]
	if web.DesiredCount != 3 || td.Family != "app_web" || td.Tags[0] != (state.Tag{Key: TagStack, Value: "app"}) {
		t.Fatalf("web: %+v", web)
	}
	if c.Image != "busybox:latest" || strings.Join(c.Command, " ") != "httpd -f -p 8080" || strings.Join(c.EntryPoint, " ") != "/bin/sh -c" {
		t.Fatalf("container: %+v", c)
	}
	env := map[string]string{}
	for _, kv := range c.Environment {
		env[kv.Name] = kv.Value
	}
	if len(env) != 3 || env["A"] != "1" || env["B"] != "two" || env["FROM_CLIENT"] != "c" {
		t.Fatalf("environment: %v", env)
	}
	if len(c.PortMappings) != 2 || c.PortMappings[0] != (state.PortMapping{ContainerPort: 80, HostPort: 8080, Protocol: "tcp"}) ||
		c.PortMappings[1].ContainerPort != 53 || c.PortMappings[1].HostPort != 0 || c.PortMappings[1].Protocol != "udp" {
		t.Fatalf("ports: %+v", c.PortMappings)
	}
	if c.Cpu != 512 || *c.Memory != 128 || *c.MemoryReservation != 64 || *c.StopTimeout != 5 {
		t.Fatalf("resources: cpu %d memory %v reservation %v stop %v", c.Cpu, *c.Memory, *c.MemoryReservation, *c.StopTimeout)
	}
	h := c.HealthCheck
	if h == nil || h.Command[0] != "CMD-SHELL" || h.Interval != 10 || h.Timeout != 3 || h.Retries != 4 || h.StartPeriod != 2 {
		t.Fatalf("healthcheck: %+v", h)
	}
	if len(c.Secrets) != 2 || c.Secrets[0] != (state.Secret{Name: "/run/secrets/db_pass", ValueFrom: "db_pass"}) ||
		c.Secrets[1] != (state.Secret{Name: "/run/secrets/api.key", ValueFrom: "api_key_v2"}) {
		t.Fatalf("secrets: %+v", c.Secrets)
	}
	vols := map[string]state.Volume{}
	for _, v := range td.Volumes {
		vols[v.Name] = v
	}
	mps := map[string]state.MountPoint{}
	for _, mp := range c.MountPoints {
		mps[mp.ContainerPath] = mp
	}
	if v := vols[mps["/data"].SourceVolume]; v.Host == nil || v.Host.SourcePath != "/srv/app/data" || !mps["/data"].ReadOnly {
		t.Fatalf("bind: %+v %+v", v, mps["/data"])
	}
	if v := vols[mps["/cache"].SourceVolume]; v.Name != "app_cache" || v.DockerVolumeConfiguration.Scope != "shared" ||
		!*v.DockerVolumeConfiguration.Autoprovision || v.DockerVolumeConfiguration.DriverOpts["type"] != "tmpfs" {
		t.Fatalf("named volume: %+v", v)
	}
	if v := vols[mps["/ext"].SourceVolume]; v.Name != "ext" || v.DockerVolumeConfiguration.Scope != "shared" || v.DockerVolumeConfiguration.Autoprovision != nil {
		t.Fatalf("external volume: %+v", v)
	}
	if v := vols[mps["/anon"].SourceVolume]; v.DockerVolumeConfiguration == nil || v.DockerVolumeConfiguration.Scope != "task" {
		t.Fatalf("anonymous volume: %+v", v)
	}
}

// What does not map is refused, naming the key.
func TestMapRefusals(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"build", "services:\n  a:\n    build: .\n", "services.a.build"},
		{"no image", "services:\n  a:\n    command: [x]\n", "neither an image"},
		{"cap_add", "services:\n  a:\n    image: x\n    cap_add: [NET_ADMIN]\n", "services.a.cap_add"},
		{"global", "services:\n  a:\n    image: x\n    deploy:\n      mode: global\n", "services.a.deploy.mode"},
		{"placement", "services:\n  a:\n    image: x\n    deploy:\n      placement:\n        constraints: [node.role==manager]\n", "services.a.deploy.placement"},
		{"host ip", "services:\n  a:\n    image: x\n    ports: [\"127.0.0.1:80:80\"]\n", "host_ip"},
		{"file secret", "services:\n  a:\n    image: x\n    secrets: [s]\nsecrets:\n  s:\n    file: ./s.txt\n", "secrets.s"},
		{"secret mode", "services:\n  a:\n    image: x\n    secrets:\n      - source: s\n        mode: 0400\nsecrets:\n  s:\n    external: true\n", "services.a.secrets[0]"},
		{"secret elsewhere", "services:\n  a:\n    image: x\n    secrets:\n      - source: s\n        target: /etc/s\nsecrets:\n  s:\n    external: true\n", "target"},
		{"tmpfs", "services:\n  a:\n    image: x\n    volumes:\n      - type: tmpfs\n        target: /t\n", "services.a.volumes[0].type"},
		{"network", "services:\n  a:\n    image: x\n    networks: [back]\nnetworks:\n  back: {}\n", "services.a.networks"},
		{"network_mode", "services:\n  a:\n    image: x\n    network_mode: \"service:b\"\n  b:\n    image: x\n", "network_mode"},
		{"restart", "services:\n  a:\n    image: x\n    restart: \"no\"\n", "services.a.restart"},
		{"env_file", "services:\n  a:\n    image: x\n    env_file: [/etc/shadow]\n", "env_file"},
		{"dotted name", "services:\n  a.b:\n    image: x\n", "services.a.b"},
		{"no services", "services: {}\n", "no services"},
		{"not yaml", "services: [\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.yaml, nil)
			if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one naming %q", err, c.want)
			}
		})
	}
}

func TestLoadBounds(t *testing.T) {
	ctx := context.Background()
	if _, err := Load(ctx, "Bad Name", Input{Files: []File{{Filename: "c.yml", Content: []byte("services: {}")}}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := Load(ctx, "app", Input{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("no files: %v", err)
	}
	if _, err := Load(ctx, "app", Input{Files: []File{{Filename: "c.yml", Content: make([]byte, MaxFileBytes+1)}}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("big file: %v", err)
	}
	// The .env file interpolates; the client's environment wins.
	p, err := Load(ctx, "app", Input{Files: []File{{Filename: "c.yml", Content: []byte("services:\n  a:\n    image: busybox:${TAG}\n    environment:\n      - X=${X}\n")}},
		DotEnv: []byte("TAG=1.36\nX=fromdotenv\n"), Env: map[string]string{"X": "fromenv"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Map("app", p)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Services[0].TaskDef.ContainerDefinitions[0]
	if c.Image != "busybox:1.36" || c.Environment[0].Value != "fromenv" {
		t.Fatalf("interpolation: %s %+v", c.Image, c.Environment)
	}
}
