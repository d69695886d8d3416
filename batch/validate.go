package batch

import (
	"fmt"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
)

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// ValidName checks a name as Batch does for environments, queues,
// definitions, policies and jobs: 1 to 128 letters, digits, '-' and
// '_', starting with a letter or digit.
func ValidName(kind, s string) error {
	if s == "" || len(s) > 128 {
		return invalid("%s must be 1 to 128 characters", kind)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_') {
			return invalid("%s %q: up to 128 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed, starting with a letter or number", kind, s)
		}
	}
	return nil
}

func validTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return invalid("at most %d tags", MaxTags)
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return invalid("tag keys are 1 to 128 characters, values up to 256")
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return invalid("tag keys starting with aws: are reserved")
		}
	}
	return nil
}

// ValidateEnv checks a compute environment to create.
func ValidateEnv(e *ComputeEnvironment) error {
	if err := ValidName("computeEnvironmentName", e.Name); err != nil {
		return err
	}
	switch e.Type {
	case "MANAGED":
		switch e.ResourceType {
		case "FARGATE", "FARGATE_SPOT", "EC2", "SPOT":
		case "":
			return invalid("A MANAGED compute environment needs computeResources")
		default:
			return invalid("computeResources.type %q: FARGATE, FARGATE_SPOT, EC2 or SPOT", e.ResourceType)
		}
		if e.MaxVCPUs <= 0 {
			return invalid("computeResources.maxvCpus must be greater than 0")
		}
	case "UNMANAGED":
		return invalid("wharf runs MANAGED compute environments only: its nodes are the capacity")
	default:
		return invalid("type %q: MANAGED or UNMANAGED", e.Type)
	}
	if e.State != StateEnabled && e.State != StateDisabled {
		return invalid("state %q: ENABLED or DISABLED", e.State)
	}
	return validTags(e.Tags)
}

// ValidatePolicy checks a scheduling policy to create.
func ValidatePolicy(p *SchedulingPolicy) error {
	if err := ValidName("name", p.Name); err != nil {
		return err
	}
	if p.ShareDecaySeconds < 0 || p.ShareDecaySeconds > 604800 {
		return invalid("shareDecaySeconds must be 0 to 604800")
	}
	if p.ComputeReservation < 0 || p.ComputeReservation > 99 {
		return invalid("computeReservation must be 0 to 99")
	}
	if len(p.Shares) > 500 {
		return invalid("at most 500 shareDistribution entries")
	}
	seen := map[string]bool{}
	for _, s := range p.Shares {
		id := s.Identifier
		if id == "" || len(id) > 255 {
			return invalid("shareIdentifier must be 1 to 255 characters")
		}
		if i := strings.IndexByte(id, '*'); i >= 0 && i != len(id)-1 {
			return invalid("shareIdentifier %q: an asterisk may only end it", id)
		}
		if seen[id] {
			return invalid("shareIdentifier %q appears twice", id)
		}
		seen[id] = true
		if s.Weight < 0.0001 || s.Weight > 999.9999 {
			return invalid("weightFactor of %q must be 0.0001 to 999.9999", id)
		}
	}
	return validTags(p.Tags)
}

// ValidateQueue checks a queue to create or its update against the
// environments that exist (envOf returns one or nil).
func ValidateQueue(q *JobQueue, envOf func(string) *ComputeEnvironment) error {
	if err := ValidName("jobQueueName", q.Name); err != nil {
		return err
	}
	if q.Priority < 0 || q.Priority > 1000 {
		return invalid("priority must be 0 to 1000")
	}
	if q.State != StateEnabled && q.State != StateDisabled {
		return invalid("state %q: ENABLED or DISABLED", q.State)
	}
	if len(q.Envs) == 0 || len(q.Envs) > MaxQueueEnvs {
		return invalid("computeEnvironmentOrder must name 1 to %d compute environments", MaxQueueEnvs)
	}
	orders := map[int]bool{}
	fargate := -1
	for _, eo := range q.Envs {
		e := envOf(eo.Env)
		if e == nil {
			return invalid("computeEnvironment %s does not exist", eo.Env)
		}
		if orders[eo.Order] {
			return invalid("computeEnvironmentOrder has order %d twice", eo.Order)
		}
		orders[eo.Order] = true
		isF := 0
		if strings.HasPrefix(e.ResourceType, "FARGATE") {
			isF = 1
		}
		if fargate >= 0 && fargate != isF {
			return invalid("a job queue cannot mix Fargate and EC2 compute environments")
		}
		fargate = isF
	}
	return validTags(q.Tags)
}

// ValidateRetry checks a retry strategy.
func ValidateRetry(rs *RetryStrategy) error {
	if rs == nil {
		return nil
	}
	if rs.Attempts < 1 || rs.Attempts > MaxAttempts {
		return invalid("retryStrategy.attempts must be 1 to %d", MaxAttempts)
	}
	if len(rs.EvaluateOnExit) > MaxEvaluate {
		return invalid("retryStrategy.evaluateOnExit holds at most %d conditions", MaxEvaluate)
	}
	for _, r := range rs.EvaluateOnExit {
		switch strings.ToUpper(r.Action) {
		case ActionRetry, ActionExit:
		default:
			return invalid("evaluateOnExit.action %q: RETRY or EXIT", r.Action)
		}
		if err := validPattern("onExitCode", r.OnExitCode, func(c byte) bool { return c >= '0' && c <= '9' }); err != nil {
			return err
		}
		reasonChar := func(c byte) bool {
			return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == ':' || c == ' ' || c == '\t'
		}
		if err := validPattern("onReason", r.OnReason, reasonChar); err != nil {
			return err
		}
		if err := validPattern("onStatusReason", r.OnStatusReason, reasonChar); err != nil {
			return err
		}
	}
	return nil
}

func validPattern(field, p string, ok func(byte) bool) error {
	if len(p) > 512 {
		return invalid("evaluateOnExit.%s is at most 512 characters", field)
	}
	body := strings.TrimSuffix(p, "*")
	for i := 0; i < len(body); i++ {
		if !ok(body[i]) {
			return invalid("evaluateOnExit.%s %q: character %q is not allowed (an asterisk may only end it)", field, p, body[i])
		}
	}
	return nil
}

// ValidateTimeout checks attemptDurationSeconds against the smallest
// timeout allowed (Batch's 60 s).
func ValidateTimeout(seconds, min int) error {
	if seconds != 0 && seconds < min {
		return invalid("timeout.attemptDurationSeconds must be at least %d", min)
	}
	return nil
}

// ValidateContainer checks a definition's container.
func ValidateContainer(c *Container) error {
	if c.Image == "" || len(c.Image) > 255 {
		return invalid("containerProperties.image is required (up to 255 characters)")
	}
	if !(c.VCPUs > 0) { // NaN too
		return invalid("containerProperties: a VCPU resourceRequirement greater than 0 is required")
	}
	if c.VCPUs > 256 {
		return invalid("containerProperties: VCPU at most 256")
	}
	if c.MemoryMiB < 4 {
		return invalid("containerProperties: a MEMORY resourceRequirement of at least 4 MiB is required")
	}
	if len(c.Command) > 1000 || len(c.Environment) > 1000 {
		return invalid("containerProperties: at most 1000 command arguments and environment variables")
	}
	for _, kv := range c.Environment {
		if kv.Name == "" || strings.HasPrefix(kv.Name, "AWS_BATCH") {
			return invalid("environment variable %q: names are required and may not start with AWS_BATCH, which Batch reserves", kv.Name)
		}
	}
	return nil
}

// ValidateDefinition checks a job definition to register.
func ValidateDefinition(d *JobDefinition, minTimeout int) error {
	if err := ValidName("jobDefinitionName", d.Name); err != nil {
		return err
	}
	if d.Type != "container" {
		return invalid("type %q: wharf runs container job definitions (multinode is not supported)", d.Type)
	}
	if len(d.Parameters) > MaxParameters {
		return invalid("at most %d parameters", MaxParameters)
	}
	if err := ValidateContainer(&d.Container); err != nil {
		return err
	}
	if err := ValidateRetry(d.RetryStrategy); err != nil {
		return err
	}
	if err := ValidateTimeout(d.TimeoutSeconds, minTimeout); err != nil {
		return err
	}
	for _, p := range d.PlatformCapabilities {
		if p != "EC2" && p != "FARGATE" {
			return invalid("platformCapabilities %q: EC2 or FARGATE", p)
		}
	}
	return validTags(d.Tags)
}
