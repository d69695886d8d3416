package state

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/wharf-dev/wharf/errdefs"
)

// The cluster's task network: the addresses awsvpc tasks get (their own,
// routed between the nodes, as an ENI's in a VPC). The cluster has one
// task CIDR, set when it is created (--cluster-task-cidr), cut into
// equal subnets; each node leases one and bridges its awsvpc tasks on it.
//
// Buckets:
//
//	tasknet   "config"            -> TaskNetConfig (written once, by a
//	                                 compare-and-set create: the first
//	                                 manager's wins)
//	subnets   <subnet index>      -> SubnetLease (created with a
//	                                 compare-and-set: two nodes never hold
//	                                 the same subnet; a node that comes
//	                                 back finds its lease and keeps it)
//
// A node's lease also goes into its node record (Node.TaskSubnet), which
// is what every node reads to route to the others' tasks.
const (
	bucketTaskNet = "tasknet"
	bucketSubnets = "subnets"
	taskNetKey    = "config"
)

// Defaults of the cluster's task network: 256 subnets of 254 tasks.
const (
	DefaultTaskCIDR   = "10.218.0.0/16"
	DefaultSubnetBits = 24
)

// TaskNetConfig is the cluster's task network.
type TaskNetConfig struct {
	// CIDR is the whole task network; SubnetBits the prefix length of
	// each node's subnet.
	CIDR       string `json:"cidr"`
	SubnetBits int    `json:"subnetBits"`
}

// SubnetLease is one node's subnet of the task network.
type SubnetLease struct {
	Node   string `json:"node"`
	Subnet string `json:"subnet"`
}

// maxSubnets bounds the subnets of a task network (and so a lease's
// search): a /16 in /24s has 256.
const maxSubnets = 4096

// ParseTaskNet checks a task network: an IPv4 prefix cut into at most
// maxSubnets subnets of subnetBits bits, each with room for a gateway
// and a task.
func ParseTaskNet(c TaskNetConfig) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(c.CIDR)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("task network %q: want an IPv4 CIDR such as %s: %w", c.CIDR, DefaultTaskCIDR, errdefs.ErrInvalidArgument)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("task network %s: the address has bits outside the prefix (%s?): %w", p, p.Masked(), errdefs.ErrInvalidArgument)
	}
	if c.SubnetBits < p.Bits() || c.SubnetBits > 29 || c.SubnetBits-p.Bits() > 12 {
		return netip.Prefix{}, fmt.Errorf("task network %s in /%d subnets: want subnets of /%d to /29, at most %d of them: %w", p, c.SubnetBits, p.Bits(), maxSubnets, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// Subnet is the i-th subnet of the task network (ok false past the
// last).
func (c TaskNetConfig) Subnet(i int) (netip.Prefix, bool) {
	p, err := ParseTaskNet(c)
	if err != nil || i < 0 || i >= 1<<(c.SubnetBits-p.Bits()) {
		return netip.Prefix{}, false
	}
	a := p.Addr().As4()
	base := binary.BigEndian.Uint32(a[:]) + uint32(i)<<(32-c.SubnetBits)
	binary.BigEndian.PutUint32(a[:], base)
	return netip.PrefixFrom(netip.AddrFrom4(a), c.SubnetBits), true
}

// Subnets is how many subnets the task network has.
func (c TaskNetConfig) Subnets() int {
	p, err := ParseTaskNet(c)
	if err != nil {
		return 0
	}
	return 1 << (c.SubnetBits - p.Bits())
}

// SubnetID is the AWS-style id of a task subnet ("subnet-" and its
// network address in hex), which DescribeTasks' attachments carry and
// RunTask's awsvpcConfiguration.subnets names.
func SubnetID(p netip.Prefix) string {
	if !p.Addr().Is4() {
		return ""
	}
	a := p.Addr().As4()
	return fmt.Sprintf("subnet-%08x", binary.BigEndian.Uint32(a[:]))
}

// TaskNet is the table of the cluster's task network configuration.
func (s *Store) TaskNet() Table[TaskNetConfig] {
	return Table[TaskNetConfig]{s: s, name: bucketTaskNet}
}

// SubnetLeases is the table of the nodes' task subnets, by index.
func (s *Store) SubnetLeases() Table[SubnetLease] {
	return Table[SubnetLease]{s: s, name: bucketSubnets}
}

// InitTaskNet records the cluster's task network unless one is recorded,
// and returns the one recorded (the first writer's).
func (s *Store) InitTaskNet(ctx context.Context, c TaskNetConfig) (TaskNetConfig, error) {
	if _, err := ParseTaskNet(c); err != nil {
		return c, err
	}
	if _, err := s.TaskNet().Create(ctx, taskNetKey, c); err != nil && !errdefs.IsConflict(err) {
		return c, err
	}
	return s.GetTaskNet(ctx)
}

// GetTaskNet returns the cluster's task network (ErrNotFound before
// InitTaskNet).
func (s *Store) GetTaskNet(ctx context.Context) (TaskNetConfig, error) {
	e, err := s.TaskNet().Get(ctx, taskNetKey)
	return e.Value, err
}

// LeaseSubnet returns node's subnet of the task network: the one it
// holds, or the lowest free one, taken with a compare-and-set create so
// that two nodes leasing at once never get the same. A network whose
// subnets are all held is errdefs.ErrUnavailable.
func (s *Store) LeaseSubnet(ctx context.Context, c TaskNetConfig, node string) (netip.Prefix, error) {
	if _, err := ParseTaskNet(c); err != nil {
		return netip.Prefix{}, err
	}
	leases := s.SubnetLeases()
	all, err := leases.List(ctx)
	if err != nil {
		return netip.Prefix{}, err
	}
	held := map[int]bool{}
	for _, e := range all {
		i, err := strconv.Atoi(e.Key)
		if err != nil {
			continue
		}
		held[i] = true
		if e.Value.Node == node {
			if p, ok := c.Subnet(i); ok {
				return p, nil
			}
		}
	}
	n := c.Subnets()
	for i := 0; i < n; i++ {
		if held[i] {
			continue
		}
		p, _ := c.Subnet(i)
		_, err := leases.Create(ctx, strconv.Itoa(i), SubnetLease{Node: node, Subnet: p.String()})
		if errdefs.IsConflict(err) {
			// Another node took it meanwhile.
			continue
		}
		if err != nil {
			return netip.Prefix{}, err
		}
		return p, nil
	}
	return netip.Prefix{}, fmt.Errorf("no free task subnet: all %d /%d subnets of the task network %s are leased (remove the nodes that are gone with `wharf node rm`): %w",
		n, c.SubnetBits, c.CIDR, errdefs.ErrUnavailable)
}

// ReleaseSubnets frees the subnets node holds (it was removed from the
// cluster).
func (s *Store) ReleaseSubnets(ctx context.Context, node string) error {
	all, err := s.SubnetLeases().List(ctx)
	if err != nil {
		return err
	}
	for _, e := range all {
		if e.Value.Node == node {
			if err := s.SubnetLeases().Delete(ctx, e.Key, e.Revision); err != nil && !errdefs.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

// AttachmentID is the id of a task's network attachment (ECS's ENI
// attachment), derived from the task id so that it is the same before
// and after the node records the attachment.
func AttachmentID(taskID string) string {
	sum := sha256.Sum256([]byte("attachment/" + taskID))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
