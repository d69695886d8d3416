package ecsapi

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
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

// awsvpc through the SDK, over the real state with two nodes on their
// task subnets: networkConfiguration is checked as ECS checks it (and
// refuses what wharf has not), its subnets place the tasks; RunTask's
// attachment is PRECREATED and, once the node recorded the interface,
// DescribeTasks' attachment details and the containers'
// networkInterfaces decode in the SDK's types; DescribeServices echoes
// the service's configuration; FARGATE runs and services need one, and
// its subnets place FARGATE tasks; container instances carry
// ecs.subnet-id.
func TestAwsvpcSDK(t *testing.T) {
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
	defer cancel()
	cfg, err := st.InitTaskNet(ctx, state.TaskNetConfig{CIDR: "10.218.0.0/16", SubnetBits: 24})
	if err != nil {
		t.Fatal(err)
	}
	subnet := map[string]netip.Prefix{}
	for _, n := range []string{"n1", "n2"} {
		p, err := st.LeaseSubnet(ctx, cfg, n)
		if err != nil {
			t.Fatal(err)
		}
		subnet[n] = p
		if _, err := st.Nodes().Create(ctx, n, state.Node{ID: n, Name: n, CPU: 4096, MemoryMiB: 4096, Availability: state.AvailabilityActive, TaskSubnet: p.String()}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Heartbeats().Put(ctx, n, state.Heartbeat{}); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := identity.OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.Create(identity.AdminStatement)
	if err != nil {
		t.Fatal(err)
	}
	rt := tasks.New(st)
	srv := httptest.NewServer(New(st, agent.NewNodes(st), keys, WithTasks(rt)))
	defer srv.Close()
	ec := ecs.New(ecs.Options{BaseEndpoint: aws.String(srv.URL), Region: "us-east-1", Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
	for _, in := range []*ecs.RegisterTaskDefinitionInput{httpDef("vpc", "http", ecstypes.NetworkModeAwsvpc), httpDef("br", "http", "")} {
		if _, err := ec.RegisterTaskDefinition(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	n2 := state.SubnetID(subnet["n2"])
	conf := func(mod func(*ecstypes.AwsVpcConfiguration)) *ecstypes.NetworkConfiguration {
		a := &ecstypes.AwsVpcConfiguration{Subnets: []string{n2}}
		if mod != nil {
			mod(a)
		}
		return &ecstypes.NetworkConfiguration{AwsvpcConfiguration: a}
	}
	var ipe *ecstypes.InvalidParameterException
	for what, in := range map[string]*ecs.RunTaskInput{
		"a bridge task definition": {TaskDefinition: aws.String("br"), NetworkConfiguration: conf(nil)},
		"an empty subnet list":     {TaskDefinition: aws.String("vpc"), NetworkConfiguration: conf(func(a *ecstypes.AwsVpcConfiguration) { a.Subnets = []string{} })},
		"an unknown subnet":        {TaskDefinition: aws.String("vpc"), NetworkConfiguration: conf(func(a *ecstypes.AwsVpcConfiguration) { a.Subnets = []string{"subnet-12345678"} })},
		"security groups":          {TaskDefinition: aws.String("vpc"), NetworkConfiguration: conf(func(a *ecstypes.AwsVpcConfiguration) { a.SecurityGroups = []string{"sg-1"} })},
		"a public address":         {TaskDefinition: aws.String("vpc"), NetworkConfiguration: conf(func(a *ecstypes.AwsVpcConfiguration) { a.AssignPublicIp = ecstypes.AssignPublicIpEnabled })},
		"no awsvpcConfiguration":   {TaskDefinition: aws.String("vpc"), NetworkConfiguration: &ecstypes.NetworkConfiguration{}},
	} {
		_, err := ec.RunTask(ctx, in)
		if !errors.As(err, &ipe) {
			t.Fatalf("RunTask with %s: %v, want InvalidParameterException", what, err)
		}
		t.Logf("%s: %s", what, aws.ToString(ipe.Message))
	}
	if _, err := ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("vpc"), NetworkConfiguration: conf(func(a *ecstypes.AwsVpcConfiguration) {
		a.Subnets = []string{"subnet-12345678"}
	})}); err == nil || !strings.Contains(err.Error(), "subnet-12345678") {
		t.Fatalf("the unknown subnet is named: %v", err)
	}

	// The subnet places the tasks; the attachment is PRECREATED.
	r, err := ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("vpc"), Count: aws.Int32(3), NetworkConfiguration: conf(func(a *ecstypes.AwsVpcConfiguration) {
		a.AssignPublicIp = ecstypes.AssignPublicIpDisabled
	})})
	if err != nil || len(r.Tasks) != 3 {
		t.Fatalf("RunTask: %+v %v", r, err)
	}
	for _, x := range r.Tasks {
		if !strings.HasSuffix(aws.ToString(x.ContainerInstanceArn), "/n2") || len(x.Attachments) != 1 ||
			aws.ToString(x.Attachments[0].Status) != "PRECREATED" || aws.ToString(x.Attachments[0].Type) != "ElasticNetworkInterface" {
			t.Fatalf("task %+v", x)
		}
	}
	// Without a configuration: any node, as wharf documents.
	if r, err := ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("vpc")}); err != nil || len(r.Tasks) != 1 {
		t.Fatalf("awsvpc without a configuration: %+v %v", r, err)
	}

	// The node recorded the interface.
	x := r.Tasks[0]
	id := x.TaskArn
	e, err := rt.Find(ctx, aws.ToString(id)[strings.LastIndex(aws.ToString(id), "/")+1:])
	if err != nil {
		t.Fatal(err)
	}
	att := state.Attachment{ID: state.AttachmentID(e.Value.ID), Status: state.AttachmentAttached, SubnetID: n2, Subnet: subnet["n2"].String(),
		IPv4: "10.218.1.2", MAC: "02:42:0a:da:01:02", Interface: "eni-0123456789abcdef0"}
	if _, err := state.Mutate(ctx, st.Tasks(), e.Key, func(t *state.Task) error {
		t.Attachment = &att
		t.LastStatus = "RUNNING"
		t.Containers[0].Status = "RUNNING"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d, err := ec.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{aws.ToString(id)}})
	if err != nil || len(d.Tasks) != 1 || len(d.Tasks[0].Attachments) != 1 {
		t.Fatalf("DescribeTasks: %+v %v", d, err)
	}
	a := d.Tasks[0].Attachments[0]
	details := map[string]string{}
	for _, kv := range a.Details {
		details[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	want := map[string]string{"subnetId": n2, "networkInterfaceId": "eni-0123456789abcdef0", "macAddress": "02:42:0a:da:01:02",
		"privateDnsName": "ip-10-218-1-2", "privateIPv4Address": "10.218.1.2"}
	if aws.ToString(a.Id) != att.ID || aws.ToString(a.Status) != "ATTACHED" || len(details) != len(want) {
		t.Fatalf("attachment %+v %v", a, details)
	}
	for k, v := range want {
		if details[k] != v {
			t.Errorf("detail %s: %q, want %q", k, details[k], v)
		}
	}
	ni := d.Tasks[0].Containers[0].NetworkInterfaces
	if len(ni) != 1 || aws.ToString(ni[0].AttachmentId) != att.ID || aws.ToString(ni[0].PrivateIpv4Address) != "10.218.1.2" {
		t.Fatalf("the container's network interfaces: %+v", ni)
	}

	// A service's configuration is kept and described.
	if _, err := ec.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("bad"), TaskDefinition: aws.String("br"), DesiredCount: aws.Int32(0),
		NetworkConfiguration: conf(nil)}); !errors.As(err, &ipe) {
		t.Fatalf("a bridge service with a network configuration: %v", err)
	}
	if _, err := ec.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("api"), TaskDefinition: aws.String("vpc"), DesiredCount: aws.Int32(0),
		NetworkConfiguration: conf(nil)}); err != nil {
		t.Fatal(err)
	}
	ds, err := ec.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{"api"}})
	if err != nil || len(ds.Services) != 1 || ds.Services[0].NetworkConfiguration == nil ||
		ds.Services[0].NetworkConfiguration.AwsvpcConfiguration.Subnets[0] != n2 {
		t.Fatalf("DescribeServices: %+v %v", ds, err)
	}
	n1 := state.SubnetID(subnet["n1"])
	if _, err := ec.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("api"), NetworkConfiguration: conf(func(a *ecstypes.AwsVpcConfiguration) {
		a.Subnets = []string{n1}
	})}); err != nil {
		t.Fatal(err)
	}

	// FARGATE: as on ECS, a run or a service of an awsvpc definition
	// names its subnets, which place its tasks; the task has an
	// attachment as an EC2 awsvpc task has.
	fg := httpDef("fg", "http", ecstypes.NetworkModeAwsvpc)
	fg.RequiresCompatibilities = []ecstypes.Compatibility{ecstypes.CompatibilityFargate}
	fg.Cpu, fg.Memory = aws.String("256"), aws.String("512")
	if _, err := ec.RegisterTaskDefinition(ctx, fg); err != nil {
		t.Fatal(err)
	}
	const mustName = "Network Configuration must be provided when networkMode 'awsvpc' is specified."
	if _, err := ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("fg"), LaunchType: ecstypes.LaunchTypeFargate}); !errors.As(err, &ipe) || aws.ToString(ipe.Message) != mustName {
		t.Fatalf("FARGATE RunTask without a network configuration: %v", err)
	}
	if _, err := ec.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("fgsvc"), TaskDefinition: aws.String("fg"), DesiredCount: aws.Int32(0),
		LaunchType: ecstypes.LaunchTypeFargate}); !errors.As(err, &ipe) || aws.ToString(ipe.Message) != mustName {
		t.Fatalf("FARGATE CreateService without a network configuration: %v", err)
	}
	fr, err := ec.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("fg"), LaunchType: ecstypes.LaunchTypeFargate, Count: aws.Int32(2), NetworkConfiguration: conf(nil)})
	if err != nil || len(fr.Tasks) != 2 {
		t.Fatalf("FARGATE RunTask in n2's subnet: %+v %v", fr, err)
	}
	for _, x := range fr.Tasks {
		if x.LaunchType != ecstypes.LaunchTypeFargate || !strings.HasSuffix(aws.ToString(x.ContainerInstanceArn), "/n2") || len(x.Attachments) != 1 ||
			aws.ToString(x.Attachments[0].Status) != "PRECREATED" {
			t.Fatalf("FARGATE task %+v", x)
		}
	}
	if _, err := ec.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("fgsvc"), TaskDefinition: aws.String("fg"), DesiredCount: aws.Int32(0),
		LaunchType: ecstypes.LaunchTypeFargate, NetworkConfiguration: conf(nil)}); err != nil {
		t.Fatalf("FARGATE CreateService with a network configuration: %v", err)
	}

	// Container instances: ecs.subnet-id.
	ci, err := ec.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{"n1"}})
	if err != nil || len(ci.ContainerInstances) != 1 {
		t.Fatalf("DescribeContainerInstances: %+v %v", ci, err)
	}
	found := false
	for _, at := range ci.ContainerInstances[0].Attributes {
		found = found || aws.ToString(at.Name) == "ecs.subnet-id" && aws.ToString(at.Value) == n1
	}
	if !found {
		t.Fatalf("attributes %+v", ci.ContainerInstances[0].Attributes)
	}
}
