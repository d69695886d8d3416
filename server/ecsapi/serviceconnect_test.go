package ecsapi

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/wharf-dev/wharf/cluster/agent"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

// scEnv is an ECS API over the real state (embedded NATS) with one
// node, an admin key and an SDK client.
type scEnv struct {
	ec  *ecs.Client
	ctx context.Context
	url string
	key identity.Key
}

func sdkServer(t *testing.T) (*ecs.Client, context.Context) {
	e := newSCEnv(t)
	return e.ec, e.ctx
}

func newSCEnv(t *testing.T) *scEnv {
	t.Helper()
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	st, err := state.New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	if _, err := st.Nodes().Create(ctx, "n1", state.Node{ID: "n1", Name: "n1", CPU: 1024, MemoryMiB: 1024, Availability: state.AvailabilityActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Heartbeats().Put(ctx, "n1", state.Heartbeat{}); err != nil {
		t.Fatal(err)
	}
	keys, err := identity.OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.Create(identity.AdminStatement)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(st, agent.NewNodes(st), keys, WithTasks(tasks.New(st))))
	t.Cleanup(srv.Close)
	return &scEnv{ec: ecs.New(ecs.Options{BaseEndpoint: aws.String(srv.URL), Region: "us-east-1", Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")}), ctx: ctx, url: srv.URL, key: k}
}

func httpDef(family, portName string, mode ecstypes.NetworkMode) *ecs.RegisterTaskDefinitionInput {
	pm := ecstypes.PortMapping{ContainerPort: aws.Int32(80), HostPort: aws.Int32(81), Name: aws.String(portName)}
	if mode == ecstypes.NetworkModeAwsvpc {
		pm.HostPort = nil
	}
	return &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), NetworkMode: mode, ContainerDefinitions: []ecstypes.ContainerDefinition{{
		Name: aws.String("web"), Image: aws.String("busybox"), Memory: aws.Int32(32), PortMappings: []ecstypes.PortMapping{pm},
	}}}
}

func connect(port int32, portName, discovery, dnsName string) *ecstypes.ServiceConnectConfiguration {
	a := ecstypes.ServiceConnectClientAlias{Port: aws.Int32(port)}
	if dnsName != "" {
		a.DnsName = aws.String(dnsName)
	}
	s := ecstypes.ServiceConnectService{PortName: aws.String(portName), ClientAliases: []ecstypes.ServiceConnectClientAlias{a}}
	if discovery != "" {
		s.DiscoveryName = aws.String(discovery)
	}
	return &ecstypes.ServiceConnectConfiguration{Enabled: true, Services: []ecstypes.ServiceConnectService{s}}
}

// Service Connect through the SDK: what is implemented is recorded and
// described; everything else is refused with InvalidParameterException,
// never accepted and dropped.
func TestServiceConnectSDK(t *testing.T) {
	ec, ctx := sdkServer(t)
	for _, in := range []*ecs.RegisterTaskDefinitionInput{httpDef("web", "http", ""), httpDef("api", "api", ""), httpDef("vpc", "http", ecstypes.NetworkModeAwsvpc),
		httpDef("web", "other", "")} { // web:2 has no "http" port
		if _, err := ec.RegisterTaskDefinition(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	create := func(name, td string, sc *ecstypes.ServiceConnectConfiguration, mod ...func(*ecs.CreateServiceInput)) (*ecs.CreateServiceOutput, error) {
		in := &ecs.CreateServiceInput{ServiceName: aws.String(name), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(0), ServiceConnectConfiguration: sc}
		for _, m := range mod {
			m(in)
		}
		return ec.CreateService(ctx, in)
	}
	out, err := create("web", "web:1", connect(8080, "http", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	got := out.Service.Deployments[0].ServiceConnectConfiguration
	if got == nil || !got.Enabled || aws.ToString(got.Namespace) != "default.wharf" || len(got.Services) != 1 ||
		aws.ToString(got.Services[0].DiscoveryName) != "http" || aws.ToInt32(got.Services[0].ClientAliases[0].Port) != 8080 ||
		aws.ToString(got.Services[0].ClientAliases[0].DnsName) != "http.default.wharf" {
		t.Fatalf("described configuration: %+v", got)
	}

	var ipe *ecstypes.InvalidParameterException
	refused := map[string]func() error{
		"serviceRegistries": func() error {
			_, err := create("a1", "api:1", nil, func(in *ecs.CreateServiceInput) {
				in.ServiceRegistries = []ecstypes.ServiceRegistry{{RegistryArn: aws.String("arn:aws:servicediscovery:us-east-1:1:service/srv-1")}}
			})
			return err
		},
		"loadBalancers": func() error {
			_, err := create("a2", "api:1", nil, func(in *ecs.CreateServiceInput) {
				in.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: aws.String("arn:tg"), ContainerName: aws.String("web"), ContainerPort: aws.Int32(80)}}
			})
			return err
		},
		"an unknown portName":  func() error { _, err := create("a3", "api:1", connect(9000, "nope", "", "")); return err },
		"a port already taken": func() error { _, err := create("a5", "api:1", connect(8080, "api", "", "")); return err },
		"a name already taken": func() error { _, err := create("a6", "api:1", connect(9000, "api", "http", "")); return err },
		"the task's host port": func() error { _, err := create("a7", "api:1", connect(81, "api", "", "")); return err },
		"a bad dnsName":        func() error { _, err := create("a8", "api:1", connect(9000, "api", "", "no spaces")); return err },
		"tls": func() error {
			sc := connect(9000, "api", "", "")
			sc.Services[0].Tls = &ecstypes.ServiceConnectTlsConfiguration{IssuerCertificateAuthority: &ecstypes.ServiceConnectTlsCertificateAuthority{AwsPcaAuthorityArn: aws.String("arn:pca")}}
			_, err := create("a9", "api:1", sc)
			return err
		},
		"no client alias": func() error {
			_, err := create("a10", "api:1", &ecstypes.ServiceConnectConfiguration{Enabled: true, Services: []ecstypes.ServiceConnectService{{PortName: aws.String("api")}}})
			return err
		},
		"a task definition without the port": func() error {
			_, err := ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), TaskDefinition: aws.String("web:2")})
			return err
		},
	}
	for what, f := range refused {
		if err := f(); !errors.As(err, &ipe) {
			t.Errorf("%s: %v, want InvalidParameterException", what, err)
		}
	}
	// Another port and names: accepted; UpdateService changes the
	// configuration, and turns it off.
	if _, err := create("api", "api:1", connect(9000, "api", "backend", "api.corp")); err != nil {
		t.Fatal(err)
	}
	u, err := ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("api"), ServiceConnectConfiguration: connect(9001, "api", "backend", "")})
	if err != nil || aws.ToInt32(u.Service.Deployments[0].ServiceConnectConfiguration.Services[0].ClientAliases[0].Port) != 9001 {
		t.Fatalf("update: %+v %v", u, err)
	}
	u, err = ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("api"), ServiceConnectConfiguration: &ecstypes.ServiceConnectConfiguration{Enabled: false}})
	if err != nil || u.Service.Deployments[0].ServiceConnectConfiguration != nil {
		t.Fatalf("turned off: %+v %v", u, err)
	}
	// Port 9000 is free again.
	if _, err := create("api2", "api:1", connect(9000, "api", "", "")); err != nil {
		t.Fatal(err)
	}
	// awsvpc tasks: the mesh reaches them at their own address.
	if _, err := create("vpc", "vpc:1", connect(9100, "http", "vpcweb", "")); err != nil {
		t.Fatalf("an awsvpc service: %v", err)
	}
}
