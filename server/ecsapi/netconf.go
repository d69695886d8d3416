package ecsapi

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
)

// networkConfiguration (RunTask, CreateService, UpdateService) is
// ECS's awsvpcConfiguration, read as wharf can honour it:
//
//   - it is valid with an awsvpc task definition only, as on ECS. A
//     FARGATE run or service of an awsvpc definition without one is
//     refused, as ECS refuses it; an EC2 awsvpc run without one is
//     accepted (unlike ECS, which requires it there too): wharf has one
//     task network, and the task gets an address on its node's subnet
//     of it;
//   - subnets (1 to 16, required as on ECS) are ids of the cluster's
//     task subnets (state.SubnetID, as DescribeTasks' attachments show
//     them): the tasks go only to the nodes holding those subnets. An id
//     that is no task subnet's is refused with ECS's error for a subnet
//     that does not exist;
//   - securityGroups are refused: wharf filters nothing between tasks
//     (every task on the task network reaches every other), and
//     accepting them would promise what does not happen;
//   - assignPublicIp DISABLED (or absent) is accepted; ENABLED is
//     refused: wharf has no public addresses to give.

// maxSubnetIDs is ECS's bound on awsvpcConfiguration.subnets.
const maxSubnetIDs = 16

// subnetLister is what checkNetwork needs of the store to know the task
// subnets (*state.Store).
type subnetLister interface {
	SubnetLeases() state.Table[state.SubnetLease]
}

// checkNetwork refuses a network configuration td or launchType cannot
// have, or that names what wharf has not.
func (s *Server) checkNetwork(ctx context.Context, nc *state.NetworkConfiguration, td state.TaskDefinition, launchType string) error {
	if nc == nil {
		if launchType == string(sched.LaunchFargate) && td.NetworkMode == "awsvpc" {
			return invalidParam("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
		}
		return nil
	}
	if td.NetworkMode != "awsvpc" {
		return invalidParam("Network Configuration is not valid for the given networkMode of this task definition.")
	}
	a := nc.AwsvpcConfiguration
	if a == nil {
		return invalidParam("Network Configuration must contain an awsvpcConfiguration.")
	}
	switch {
	case len(a.Subnets) == 0:
		return invalidParam("subnets can not be empty.")
	case len(a.Subnets) > maxSubnetIDs:
		return invalidParam("subnets can have at most %d items.", maxSubnetIDs)
	case len(a.SecurityGroups) > 0:
		return invalidParam("securityGroups are not supported: wharf has no security groups, and every task on the cluster's task network reaches every other. Leave securityGroups out.")
	}
	switch a.AssignPublicIp {
	case "", "DISABLED":
	case "ENABLED":
		if launchType != string(sched.LaunchFargate) {
			return invalidParam("Assign public IP is not supported for this launch type.")
		}
		return invalidParam("Assign public IP is not supported: wharf has no public addresses to give a task. Use DISABLED.")
	default:
		return invalidParam("assignPublicIp must be ENABLED or DISABLED.")
	}
	sl, ok := s.st.(subnetLister)
	if !ok {
		return invalidParam("this daemon has no task network")
	}
	leases, err := sl.SubnetLeases().List(ctx)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, l := range leases {
		if p, err := netip.ParsePrefix(l.Value.Subnet); err == nil {
			known[state.SubnetID(p)] = true
		}
	}
	var missing []string
	for _, id := range a.Subnets {
		if !known[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return invalidParam("Error retrieving subnet information for [%s]: The subnet ID '%s' does not exist (ErrorCode: InvalidSubnetID.NotFound)",
			strings.Join(missing, ", "), missing[0])
	}
	return nil
}

// The attachments of an awsvpc task, as ECS's DescribeTasks shows them.
type attachmentOut struct {
	ID      string       `json:"id"`
	Type    string       `json:"type"`
	Status  string       `json:"status"`
	Details []keyValueKV `json:"details"`
}

type keyValueKV struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type networkInterfaceOut struct {
	AttachmentID       string `json:"attachmentId"`
	PrivateIpv4Address string `json:"privateIpv4Address"`
}

// attachments are an awsvpc task's: PRECREATED until its node records
// the interface, then as recorded (ATTACHED, DELETED once released).
func attachments(t state.Task) []attachmentOut {
	if t.NetworkMode != "awsvpc" {
		return nil
	}
	a := t.Attachment
	if a == nil {
		if t.LastStatus == string(sched.StatusStopped) {
			// It stopped before its node gave it an interface.
			return []attachmentOut{}
		}
		return []attachmentOut{{ID: state.AttachmentID(t.ID), Type: "ElasticNetworkInterface", Status: state.AttachmentPrecreated, Details: []keyValueKV{}}}
	}
	return []attachmentOut{{ID: a.ID, Type: "ElasticNetworkInterface", Status: a.Status, Details: []keyValueKV{
		{Name: "subnetId", Value: a.SubnetID},
		{Name: "networkInterfaceId", Value: a.Interface},
		{Name: "macAddress", Value: a.MAC},
		{Name: "privateDnsName", Value: privateDNSName(a.IPv4)},
		{Name: "privateIPv4Address", Value: a.IPv4},
	}}}
}

// privateDNSName is an interface's name as EC2 forms it from its address
// (ip-10-218-0-5); wharf's DNS does not answer it.
func privateDNSName(ip string) string {
	return "ip-" + strings.ReplaceAll(ip, ".", "-")
}

// checkStartSubnets refuses a StartTask whose container instances are
// not on the subnets its network configuration names (StartTask places
// nothing: the subnets cannot choose the nodes).
func (s *Server) checkStartSubnets(ctx context.Context, nc *state.NetworkConfiguration, nodes []string) error {
	ids := nc.SubnetIDs()
	if len(ids) == 0 {
		return nil
	}
	all, err := s.nodes.List(ctx)
	if err != nil {
		return err
	}
	subnetOf := map[string]string{}
	for _, n := range all {
		if p, err := netip.ParsePrefix(n.TaskSubnet); err == nil {
			subnetOf[n.ID] = state.SubnetID(p)
		}
	}
	for _, n := range nodes {
		if !slices.Contains(ids, subnetOf[n]) {
			return invalidParam("container instance %s is not in any of the subnets of the network configuration.", n)
		}
	}
	return nil
}
