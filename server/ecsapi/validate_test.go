package ecsapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/cluster/state"
)

func ip(n int) *int { return &n }

func base() state.TaskDefinition {
	return state.TaskDefinition{Family: "web", ContainerDefinitions: []state.ContainerDefinition{{Name: "web", Image: "busybox", Memory: ip(64)}}}
}

// ECS's checks of RegisterTaskDefinition, one bad input each, with the
// words of ECS's message.
func TestValidate(t *testing.T) {
	f := false
	cases := []struct {
		name string
		mod  func(*state.TaskDefinition)
		want string // "" valid
	}{
		{"ok", func(*state.TaskDefinition) {}, ""},
		{"no family", func(td *state.TaskDefinition) { td.Family = "" }, "Family cannot be blank"},
		{"bad family", func(td *state.TaskDefinition) { td.Family = "a/b" }, "invalid characters"},
		{"no containers", func(td *state.TaskDefinition) { td.ContainerDefinitions = nil }, "Container list cannot be empty"},
		{"no image", func(td *state.TaskDefinition) { td.ContainerDefinitions[0].Image = "" }, "image"},
		{"no memory", func(td *state.TaskDefinition) { td.ContainerDefinitions[0].Memory = nil }, "memoryReservation"},
		{"task memory suffices", func(td *state.TaskDefinition) { td.ContainerDefinitions[0].Memory = nil; td.Memory = "512" }, ""},
		{"reservation over memory", func(td *state.TaskDefinition) { td.ContainerDefinitions[0].MemoryReservation = ip(128) }, "less than or equal"},
		{"tiny memory", func(td *state.TaskDefinition) { td.ContainerDefinitions[0].Memory = ip(4) }, "too low"},
		{"no essential", func(td *state.TaskDefinition) { td.ContainerDefinitions[0].Essential = &f }, "essential"},
		{"dup name", func(td *state.TaskDefinition) {
			td.ContainerDefinitions = append(td.ContainerDefinitions, td.ContainerDefinitions[0])
		}, "Duplicate container name"},
		{"bad port", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].PortMappings = []state.PortMapping{{ContainerPort: 70000}}
		}, "between 1 and 65535"},
		{"awsvpc host port", func(td *state.TaskDefinition) {
			td.NetworkMode = "awsvpc"
			td.ContainerDefinitions[0].PortMappings = []state.PortMapping{{ContainerPort: 80, HostPort: 8080}}
		}, "equal to the container port"},
		{"bad protocol", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].PortMappings = []state.PortMapping{{ContainerPort: 80, Protocol: "sctp"}}
		}, "Invalid protocol"},
		{"secret by arn", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].Secrets = []state.Secret{{Name: "P", ValueFrom: "arn:aws:secretsmanager:us-east-1:000000000000:secret:db"},
				{Name: "/run/secrets/db", ValueFrom: "arn:aws:ssm:us-east-1:000000000000:parameter/db"}}
		}, ""},
		{"secret from s3", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].Secrets = []state.Secret{{Name: "P", ValueFrom: "arn:aws:s3:::bucket/key"}}
		}, "Invalid secret"},
		{"secret file elsewhere", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].Secrets = []state.Secret{{Name: "/etc/passwd", ValueFrom: "db"}}
		}, "environment variable name"},
		{"secret file in a subdirectory", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].Secrets = []state.Secret{{Name: "/run/secrets/a/../b", ValueFrom: "db"}}
		}, "not a file name"},
		{"secret twice", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].Secrets = []state.Secret{{Name: "P", ValueFrom: "a"}, {Name: "P", ValueFrom: "b"}}
		}, "set twice"},
		{"volume bad scope", func(td *state.TaskDefinition) {
			td.Volumes = []state.Volume{{Name: "v", DockerVolumeConfiguration: &state.DockerVolumeConfiguration{Scope: "node"}}}
		}, "Invalid scope"},
		{"volume autoprovision of a task volume", func(td *state.TaskDefinition) {
			yes := true
			td.Volumes = []state.Volume{{Name: "v", DockerVolumeConfiguration: &state.DockerVolumeConfiguration{Scope: "task", Autoprovision: &yes}}}
		}, "autoprovision"},
		{"volume plugin driver", func(td *state.TaskDefinition) {
			td.Volumes = []state.Volume{{Name: "v", DockerVolumeConfiguration: &state.DockerVolumeConfiguration{Driver: "rexray/ebs"}}}
		}, "local driver only"},
		{"volume host and docker", func(td *state.TaskDefinition) {
			td.Volumes = []state.Volume{{Name: "v", Host: &state.VolumeHost{SourcePath: "/srv"}, DockerVolumeConfiguration: &state.DockerVolumeConfiguration{}}}
		}, "both host and dockerVolumeConfiguration"},
		{"volume relative host path", func(td *state.TaskDefinition) {
			td.Volumes = []state.Volume{{Name: "v", Host: &state.VolumeHost{SourcePath: "srv"}}}
		}, "absolute"},
		{"volumesFrom itself", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].VolumesFrom = []state.VolumeFrom{{SourceContainer: "web"}}
		}, "volumesFrom"},
		{"mount without volume", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].MountPoints = []state.MountPoint{{SourceVolume: "data", ContainerPath: "/d"}}
		}, "sourceVolume"},
		{"health check", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].HealthCheck = &state.HealthCheck{Command: []string{"curl"}}
		}, "CMD"},
		{"healthy needs health check", func(td *state.TaskDefinition) {
			td.ContainerDefinitions = append(td.ContainerDefinitions, state.ContainerDefinition{Name: "side", Image: "x", Memory: ip(8),
				DependsOn: []state.Dependency{{ContainerName: "web", Condition: "HEALTHY"}}})
		}, "HEALTHY"},
		{"bad condition", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].DependsOn = []state.Dependency{{ContainerName: "web", Condition: "READY"}}
		}, "dependsOn"},
		{"fargate bridge", func(td *state.TaskDefinition) { td.RequiresCompatibilities = []string{"FARGATE"} }, "awsvpc"},
		{"fargate size", func(td *state.TaskDefinition) {
			td.RequiresCompatibilities, td.NetworkMode, td.Cpu, td.Memory = []string{"FARGATE"}, "awsvpc", "256", "4096"
		}, "No Fargate configuration"},
		{"fargate ok", func(td *state.TaskDefinition) {
			td.RequiresCompatibilities, td.NetworkMode, td.Cpu, td.Memory = []string{"FARGATE"}, "awsvpc", "1 vCPU", "2 GB"
		}, ""},
		{"bad network mode", func(td *state.TaskDefinition) { td.NetworkMode = "overlay" }, "networkMode"},
		{"log driver", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].LogConfiguration = &state.LogConfiguration{LogDriver: "nope"}
		}, "not supported"},
		{"secret", func(td *state.TaskDefinition) {
			td.ContainerDefinitions[0].Secrets = []state.Secret{{Name: "A"}}
		}, "valueFrom"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			td := base()
			c.mod(&td)
			err := Validate(&td)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.typ != "ClientException" || !strings.Contains(ae.msg, c.want) {
				t.Fatalf("got %v, want a ClientException saying %q", err, c.want)
			}
		})
	}
}

func TestValidateDefaults(t *testing.T) {
	td := base()
	td.ContainerDefinitions[0].PortMappings = []state.PortMapping{{ContainerPort: 80}}
	td.ContainerDefinitions[0].HealthCheck = &state.HealthCheck{Command: []string{"CMD-SHELL", "true"}}
	if err := Validate(&td); err != nil {
		t.Fatal(err)
	}
	c := td.ContainerDefinitions[0]
	if td.NetworkMode != "bridge" || !*c.Essential || c.PortMappings[0].Protocol != "tcp" || c.HealthCheck.Interval != 30 || c.HealthCheck.Retries != 3 {
		t.Fatalf("defaults: %+v %+v", td, c)
	}
}

func TestParseRef(t *testing.T) {
	for ref, want := range map[string]string{"web": "web:0", "web:3": "web:3", "arn:aws:ecs:us-east-1:000000000000:task-definition/web:2": "web:2"} {
		f, r, err := parseRef(ref)
		if err != nil || f+":"+string(rune('0'+r)) != want {
			t.Fatalf("%s: %s %d %v", ref, f, r, err)
		}
	}
	for _, bad := range []string{"", "web:x", "web:0", "a/b"} {
		if _, _, err := parseRef(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}
