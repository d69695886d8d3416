package ecsapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestServiceConnectAWSCLI drives Service Connect with the aws CLI
// (botocore), when it is installed: its serialization of
// --service-connect-configuration and its parsing of the refusals.
func TestServiceConnectAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the aws CLI a few times")
	}
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	e := newSCEnv(t)
	awsCLI := func(args ...string) (string, string, error) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--endpoint-url", e.url, "--region", "us-east-1", "--output", "json", "ecs"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+e.key.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+e.key.SecretAccessKey,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	if out, errOut, err := awsCLI("register-task-definition", "--family", "web", "--container-definitions",
		`[{"name":"web","image":"busybox","memory":32,"portMappings":[{"containerPort":80,"name":"http"}]}]`); err != nil {
		t.Fatalf("register-task-definition: %v\n%s\n%s", err, out, errOut)
	}
	out, errOut, err := awsCLI("create-service", "--service-name", "web", "--task-definition", "web", "--desired-count", "0",
		"--service-connect-configuration", `{"enabled":true,"services":[{"portName":"http","discoveryName":"web","clientAliases":[{"port":8080,"dnsName":"web.corp"}]}]}`)
	if err != nil {
		t.Fatalf("create-service: %v\n%s\n%s", err, out, errOut)
	}
	var created struct {
		Service struct {
			Deployments []struct {
				ServiceConnectConfiguration struct {
					Enabled  bool
					Services []struct {
						PortName      string
						DiscoveryName string
						ClientAliases []struct {
							Port    int
							DnsName string
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || len(created.Service.Deployments) != 1 {
		t.Fatalf("create-service answered %s (%v)", out, err)
	}
	sc := created.Service.Deployments[0].ServiceConnectConfiguration
	if !sc.Enabled || len(sc.Services) != 1 || sc.Services[0].DiscoveryName != "web" || sc.Services[0].ClientAliases[0].Port != 8080 ||
		sc.Services[0].ClientAliases[0].DnsName != "web.corp" {
		t.Fatalf("described configuration: %+v", sc)
	}
	_, errOut, err = awsCLI("create-service", "--service-name", "reg", "--task-definition", "web",
		"--service-registries", "registryArn=arn:aws:servicediscovery:us-east-1:000000000000:service/srv-1")
	if err == nil || !strings.Contains(errOut, "InvalidParameterException") {
		t.Fatalf("create-service with --service-registries: %v\n%s", err, errOut)
	}
}
