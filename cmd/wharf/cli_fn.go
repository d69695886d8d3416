package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/lambda"
	"github.com/wharf-dev/wharf/errdefs"
)

// defaultFnEndpoint is the daemon's default --http address.
const defaultFnEndpoint = "http://127.0.0.1:9280"

// defaultRole is sent when --role is not given: Lambda's API requires a
// role, and wharf keeps it without enforcing it.
const defaultRole = "arn:aws:iam::000000000000:role/wharf-function"

// newFnCommand is `wharf fn`: functions, through the daemon's Lambda API
// (api/lambda), exactly as the aws CLI would drive them.
func newFnCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "fn",
		Short: "Manage and invoke functions (AWS Lambda compatible)",
		Long: `Manage and invoke functions through the daemon's Lambda-compatible API.

The API is reached at --endpoint, $WHARF_FN_ENDPOINT or ` + defaultFnEndpoint + `
(the daemon's --http address). Requests are signed with AWS Signature V4.

` + credentialsHelp,
	}
	c.PersistentFlags().String("endpoint", "", "Lambda API address (default $WHARF_FN_ENDPOINT or "+defaultFnEndpoint+")")
	c.AddCommand(newFnDeployCommand(), newFnInvokeCommand(), newFnLsCommand(), newFnGetCommand(),
		newFnRmCommand(), newFnPublishCommand(), newFnVersionsCommand(), newFnAliasCommand(),
		newFnConcurrencyCommand())
	wrapFnErrors(c)
	// These talk to the daemon's socket, not the Lambda API.
	c.AddCommand(fnAdminCommands()...)
	return c
}

// wrapFnErrors makes the API's errors read like wharf's: "Exception:
// message" with an errdefs class for the exit path, and a hint when the
// daemon cannot be reached.
func wrapFnErrors(c *cobra.Command) {
	for _, sub := range c.Commands() {
		wrapFnErrors(sub)
	}
	run := c.RunE
	if run == nil {
		return
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		return fnError(fnEndpoint(cmd), run(cmd, args))
	}
}

func fnError(endpoint string, err error) error {
	var ee exitError
	var ae *lambda.Error
	switch {
	case err == nil, errors.As(err, &ee):
		return err
	case errors.As(err, &ae):
		// "Exception: message", classed by the status (ae unwraps to it).
		return ae
	case errors.As(err, new(*net.OpError)):
		return fmt.Errorf("cannot reach the Lambda API at %s (is `wharf daemon` serving --http there? see --endpoint): %w", endpoint, errors.Join(err, errdefs.ErrUnavailable))
	}
	return err
}

// fnEndpoint is the Lambda API address chosen by flag, environment or default.
func fnEndpoint(cmd *cobra.Command) string {
	ep, _ := cmd.Flags().GetString("endpoint")
	if ep == "" {
		ep = os.Getenv("WHARF_FN_ENDPOINT")
	}
	if ep == "" {
		ep = defaultFnEndpoint
	}
	if !strings.Contains(ep, "://") {
		ep = "http://" + ep
	}
	return strings.TrimRight(ep, "/")
}

// fnCredentials finds the key pair to sign with (see credentialsHelp).
func fnCredentials() (id, secret string, err error) {
	id, secret = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id != "" && secret != "" {
		return id, secret, nil
	}
	path, err := credentialsPath()
	if err != nil {
		return "", "", err
	}
	profile := os.Getenv("WHARF_PROFILE")
	if profile == "" {
		profile = "default"
	}
	id, secret, err = readCredentials(path, profile)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("no credentials for the Lambda API: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `wharf keys create --save`: %w", errdefs.ErrInvalidArgument)
	}
	return id, secret, err
}

// fnClientFor returns a Lambda client for the daemon's Lambda API.
func fnClientFor(cmd *cobra.Command) (*lambda.Client, error) {
	id, secret, err := fnCredentials()
	if err != nil {
		return nil, err
	}
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	return lambda.New(fnEndpoint(cmd), region, id, secret), nil
}

// deployOptions are `fn deploy`'s flags.
type deployOptions struct {
	zip, image, imageConfig, runtime, handler, role string
	description                                     string
	memory, timeout, ephemeral, concurrency         int
	env                                             []string
	publish                                         bool
	wait                                            time.Duration
	// changed reports whether a flag was given on the command line;
	// updates send only those.
	changed func(flag string) bool
}

// parseEnv turns K=V flags into a map.
func parseEnv(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: want KEY=VALUE: %w", kv, errdefs.ErrInvalidArgument)
		}
		out[k] = v
	}
	return out, nil
}

func (o *deployOptions) check() error {
	if o.zip != "" && o.image != "" {
		return fmt.Errorf("give one of --zip and --image: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// code reads the package the flags name (nil when neither is given).
func (o *deployOptions) code() (*lambda.FunctionCode, error) {
	switch {
	case o.zip != "":
		data, err := os.ReadFile(o.zip)
		if err != nil {
			return nil, fmt.Errorf("--zip: %w", err)
		}
		return &lambda.FunctionCode{ZipFile: data}, nil
	case o.image != "":
		return &lambda.FunctionCode{ImageURI: o.image}, nil
	}
	return nil, nil
}

// createInput is CreateFunction for a new function: every flag, with its
// default when not given.
func (o *deployOptions) createInput(name string, code *lambda.FunctionCode) (*lambda.CreateFunctionInput, error) {
	env, err := parseEnv(o.env)
	if err != nil {
		return nil, err
	}
	in := &lambda.CreateFunctionInput{
		FunctionName:     name,
		Role:             o.role,
		Code:             *code,
		MemorySize:       int32p(o.memory),
		Timeout:          int32p(o.timeout),
		EphemeralStorage: &lambda.EphemeralStorage{Size: int32(o.ephemeral)},
		Publish:          o.publish,
		PackageType:      lambda.PackageTypeZip,
		Description:      o.description,
	}
	if code.ImageURI != "" {
		in.PackageType = lambda.PackageTypeImage
		if o.changed("runtime") {
			return nil, fmt.Errorf("--runtime does not apply to --image functions: %w", errdefs.ErrInvalidArgument)
		}
		if in.ImageConfig, err = o.parseImageConfig(); err != nil {
			return nil, err
		}
	} else {
		if o.changed("image-config") {
			return nil, fmt.Errorf("--image-config applies to --image functions only: %w", errdefs.ErrInvalidArgument)
		}
		in.Runtime = o.runtime
		in.Handler = o.handler
	}
	if env != nil {
		in.Environment = &lambda.Environment{Variables: env}
	}
	return in, nil
}

// parseImageConfig reads --image-config, the JSON form the aws CLI takes:
// {"EntryPoint":[...],"Command":[...],"WorkingDirectory":"/dir"}.
func (o *deployOptions) parseImageConfig() (*lambda.ImageConfig, error) {
	if strings.TrimSpace(o.imageConfig) == "" {
		return nil, nil
	}
	var ic lambda.ImageConfig
	dec := json.NewDecoder(strings.NewReader(o.imageConfig))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ic); err != nil {
		return nil, fmt.Errorf(`--image-config: want {"EntryPoint":[...],"Command":[...],"WorkingDirectory":"/dir"}: %v: %w`, err, errdefs.ErrInvalidArgument)
	}
	return &ic, nil
}

func int32p(v int) *int32 {
	n := int32(v)
	return &n
}

// configInput is UpdateFunctionConfiguration for an existing function:
// only the flags given, or nil when none is.
func (o *deployOptions) configInput(name string) (*lambda.UpdateFunctionConfigurationInput, error) {
	in := &lambda.UpdateFunctionConfigurationInput{FunctionName: name}
	set := false
	str := func(flag, v string) *string {
		if !o.changed(flag) {
			return nil
		}
		set = true
		return &v
	}
	num := func(flag string, v int) *int32 {
		if !o.changed(flag) {
			return nil
		}
		set = true
		return int32p(v)
	}
	in.Role, in.Handler, in.Description = str("role", o.role), str("handler", o.handler), str("description", o.description)
	in.MemorySize, in.Timeout = num("memory", o.memory), num("timeout", o.timeout)
	in.Runtime = str("runtime", o.runtime)
	if size := num("ephemeral-storage", o.ephemeral); size != nil {
		in.EphemeralStorage = &lambda.EphemeralStorage{Size: *size}
	}
	if o.changed("image-config") {
		ic, err := o.parseImageConfig()
		if err != nil {
			return nil, err
		}
		if ic == nil {
			ic = &lambda.ImageConfig{} // "" clears the overrides
		}
		in.ImageConfig, set = ic, true
	}
	if o.changed("env") {
		env, err := parseEnv(o.env)
		if err != nil {
			return nil, err
		}
		if env == nil {
			env = map[string]string{}
		}
		in.Environment, set = &lambda.Environment{Variables: env}, true
	}
	if !set {
		return nil, nil
	}
	return in, nil
}

// deploy creates the function, or updates its configuration then its code
// (Lambda accepts one update at a time), then sets its concurrency. It
// returns the configuration last answered.
func deploy(ctx context.Context, c *lambda.Client, name string, o *deployOptions) (*lambda.FunctionConfiguration, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	code, err := o.code()
	if err != nil {
		return nil, err
	}
	_, err = c.GetFunctionConfiguration(ctx, name, "")
	var last *lambda.FunctionConfiguration
	switch {
	case lambda.IsCode(err, "ResourceNotFoundException"):
		if code == nil {
			return nil, fmt.Errorf("function %s does not exist: give --zip or --image to create it: %w", name, errdefs.ErrInvalidArgument)
		}
		in, err := o.createInput(name, code)
		if err != nil {
			return nil, err
		}
		if last, err = c.CreateFunction(ctx, in); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		cfg, err := o.configInput(name)
		if err != nil {
			return nil, err
		}
		if cfg != nil {
			if _, err := c.UpdateFunctionConfiguration(ctx, cfg); err != nil {
				return nil, err
			}
			if _, err := waitReady(ctx, c, name, o.wait); err != nil {
				return nil, err
			}
		}
		switch {
		case code != nil:
			if last, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
				FunctionName: name, ZipFile: code.ZipFile, ImageURI: code.ImageURI, Publish: o.publish,
			}); err != nil {
				return nil, err
			}
		case o.publish:
			if last, err = c.PublishVersion(ctx, name, o.description); err != nil {
				return nil, err
			}
		}
	}
	if o.changed("concurrency") {
		if err := c.PutFunctionConcurrency(ctx, name, int32(o.concurrency)); err != nil {
			return nil, err
		}
	}
	ready, err := waitReady(ctx, c, name, o.wait)
	if err != nil {
		return nil, err
	}
	if last == nil || last.Version == "$LATEST" {
		last = ready
	}
	return last, nil
}

// waitReady polls $LATEST until it is no longer Pending or updating; a
// Failed function is an error with Lambda's reason.
func waitReady(ctx context.Context, c *lambda.Client, name string, limit time.Duration) (*lambda.FunctionConfiguration, error) {
	deadline := time.Now().Add(limit)
	delay := 50 * time.Millisecond
	for {
		out, err := c.GetFunctionConfiguration(ctx, name, "")
		if err != nil {
			return nil, err
		}
		switch {
		case out.State == lambda.StateFailed:
			return nil, fmt.Errorf("function %s failed: %s", name, out.StateReason)
		case out.LastUpdateStatus == lambda.LastUpdateStatusFailed:
			return nil, fmt.Errorf("updating function %s failed: %s", name, out.LastUpdateStatusReason)
		case out.State != lambda.StatePending && out.LastUpdateStatus != lambda.LastUpdateStatusInProgress:
			return out, nil
		case time.Now().After(deadline):
			return nil, fmt.Errorf("function %s is still %s after %s", name, out.State, limit)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

func newFnDeployCommand() *cobra.Command {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy NAME (--zip FILE | --image REF) [OPTIONS]",
		Short: "Create a function, or update its code and configuration",
		Long: `Create a function, or update an existing one. On update only the flags
given change; new code is uploaded after the configuration. --publish
publishes a version; --concurrency reserves concurrency (0 stops the
function from running). The command waits until the function is Active.`,
		Example: `  wharf fn deploy hello --zip fn.zip --runtime provided --memory 128 --timeout 3
  wharf fn deploy hello-img --image local/hello:1 --image-config '{"Command":["app.handler"]}'
  wharf fn deploy hello --env STAGE=prod --publish`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.changed = cmd.Flags().Changed
			c, err := fnClientFor(cmd)
			if err != nil {
				return err
			}
			cfg, err := deploy(cmd.Context(), c, args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, version %s\n%s\n", cfg.FunctionName, cfg.State, cfg.Version, cfg.FunctionArn)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.zip, "zip", "", "Zip package whose `bootstrap` implements the Lambda Runtime API")
	f.StringVar(&o.image, "image", "", "OCI image implementing the Lambda Runtime API")
	f.StringVar(&o.imageConfig, "image-config", "", `Image function overrides as JSON: {"EntryPoint":[...],"Command":[...],"WorkingDirectory":"/dir"} ("" clears them on update)`)
	f.StringVar(&o.runtime, "runtime", "provided.al2023", "Runtime of a zip function: provided, provided.al2 or provided.al2023")
	f.StringVar(&o.handler, "handler", "bootstrap", "Handler (passed to the function as _HANDLER)")
	f.StringVar(&o.role, "role", defaultRole, "Execution role ARN (kept, not enforced)")
	f.StringVar(&o.description, "description", "", "Description")
	f.IntVarP(&o.memory, "memory", "m", 128, "Memory in MB (128-10240); CPU is given in proportion")
	f.IntVarP(&o.timeout, "timeout", "t", 3, "Timeout in seconds (1-900)")
	f.IntVar(&o.ephemeral, "ephemeral-storage", 512, "Size of /tmp in MB (512-10240)")
	f.IntVar(&o.concurrency, "concurrency", 0, "Reserved concurrency (unchanged unless given)")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Environment variable KEY=VALUE (repeatable; on update, replaces the whole environment)")
	f.BoolVar(&o.publish, "publish", false, "Publish a version")
	f.DurationVar(&o.wait, "wait", 2*time.Minute, "How long to wait for the function to become Active")
	return cmd
}

// invokeOptions are `fn invoke`'s flags.
type invokeOptions struct {
	qualifier     string
	async, dryRun bool
	noLogs        bool
}

// invokeInput builds Invoke from the flags and the payload argument
// ("-" reads stdin; none sends no payload).
func invokeInput(name string, args []string, stdin io.Reader, o invokeOptions) (*lambda.InvokeInput, error) {
	if o.async && o.dryRun {
		return nil, fmt.Errorf("--async and --dry-run exclude each other: %w", errdefs.ErrInvalidArgument)
	}
	in := &lambda.InvokeInput{FunctionName: name, Qualifier: o.qualifier, InvocationType: lambda.InvocationRequestResponse}
	switch {
	case o.async:
		in.InvocationType = lambda.InvocationEvent
	case o.dryRun:
		in.InvocationType = lambda.InvocationDryRun
	case !o.noLogs:
		in.LogType = lambda.LogTail
	}
	if len(args) > 0 {
		payload := []byte(args[0])
		if args[0] == "-" {
			var err error
			if payload, err = io.ReadAll(stdin); err != nil {
				return nil, err
			}
		}
		if len(bytes.TrimSpace(payload)) == 0 {
			return in, nil // no payload, as when none is given
		}
		if !json.Valid(payload) {
			return nil, fmt.Errorf("the payload is not valid JSON: %w", errdefs.ErrInvalidArgument)
		}
		in.Payload = payload
	}
	return in, nil
}

// functionFailure is the error document of a failed invocation.
type functionFailure struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// reportInvoke writes an invocation's outcome: the payload on stdout, the
// log tail on stderr; a function error becomes the command's failure.
func reportInvoke(stdout, stderr io.Writer, out *lambda.InvokeOutput) error {
	if out.LogResult != "" {
		if logs, err := base64.StdEncoding.DecodeString(out.LogResult); err == nil {
			_, _ = stderr.Write(logs)
			if len(logs) > 0 && logs[len(logs)-1] != '\n' {
				fmt.Fprintln(stderr)
			}
		}
	}
	switch out.StatusCode {
	case 202:
		fmt.Fprintf(stderr, "Accepted for asynchronous invocation (request %s)\n", out.RequestID)
		return nil
	case 204:
		fmt.Fprintf(stderr, "Dry run: the request would be accepted (version %s)\n", out.ExecutedVersion)
		return nil
	}
	if len(out.Payload) > 0 {
		_, _ = stdout.Write(out.Payload)
		if out.Payload[len(out.Payload)-1] != '\n' {
			fmt.Fprintln(stdout)
		}
	}
	if out.FunctionError != "" {
		var f functionFailure
		msg := "function error (" + out.FunctionError + ")"
		if json.Unmarshal(out.Payload, &f) == nil && (f.ErrorType != "" || f.ErrorMessage != "") {
			msg += ": " + strings.TrimPrefix(f.ErrorType+": "+f.ErrorMessage, ": ")
		}
		return exitError{code: 1, err: errors.New(msg)}
	}
	return nil
}

func newFnInvokeCommand() *cobra.Command {
	var o invokeOptions
	cmd := &cobra.Command{
		Use:   "invoke NAME [PAYLOAD|-]",
		Short: "Invoke a function",
		Long: `Invoke a function with a JSON payload (an argument, or - for stdin).
The result is printed on stdout and the function's log tail (START, output,
END, REPORT) on stderr; a function error makes the command exit 1.`,
		Example: `  wharf fn invoke hello '{"key1":"v1"}'
  echo '{}' | wharf fn invoke hello:live -
  wharf fn invoke hello --async '{"job":1}'`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := invokeInput(args[0], args[1:], cmd.InOrStdin(), o)
			if err != nil {
				return err
			}
			c, err := fnClientFor(cmd)
			if err != nil {
				return err
			}
			out, err := c.Invoke(cmd.Context(), in)
			if err != nil {
				return err
			}
			return reportInvoke(cmd.OutOrStdout(), cmd.ErrOrStderr(), out)
		},
	}
	cmd.Flags().StringVarP(&o.qualifier, "qualifier", "q", "", "Version or alias to invoke")
	cmd.Flags().BoolVar(&o.async, "async", false, "Invoke asynchronously (InvocationType Event)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "Only check that the invocation would be accepted")
	cmd.Flags().BoolVar(&o.noLogs, "no-logs", false, "Do not fetch the log tail")
	return cmd
}

// fnRow is one line of `fn ls`.
type fnRow struct {
	Name, Runtime, Memory, Timeout, State, Version, LastModified, Arn string
}

func rowOf(c lambda.FunctionConfiguration) fnRow {
	rt := c.Runtime
	if c.PackageType == lambda.PackageTypeImage {
		rt = "image"
	}
	return fnRow{
		Name: c.FunctionName, Runtime: rt,
		Memory: strconv.Itoa(int(c.MemorySize)) + " MB", Timeout: strconv.Itoa(int(c.Timeout)) + " s",
		State: c.State, Version: c.Version, LastModified: c.LastModified, Arn: c.FunctionArn,
	}
}

// fnHeader names the columns of the table (built on use, not at every
// wharf process's init).
func fnHeader() map[string]string {
	return map[string]string{"Name": "NAME", "Runtime": "RUNTIME", "Memory": "MEMORY", "Timeout": "TIMEOUT",
		"State": "STATE", "Version": "VERSION", "LastModified": "LAST MODIFIED", "Arn": "ARN"}
}

func newFnLsCommand() *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List functions",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := fnClientFor(cmd)
			if err != nil {
				return err
			}
			fns, err := c.ListFunctions(cmd.Context())
			if err != nil {
				return err
			}
			var rows []any
			for _, f := range fns {
				rows = append(rows, rowOf(f))
			}
			if quiet {
				format = "{{.Name}}"
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.Name}}\t{{.Runtime}}\t{{.Memory}}\t{{.Timeout}}\t{{.State}}\t{{.LastModified}}", fnHeader(), rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template, or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display names")
	return cmd
}

// functionView is what `fn get` prints: Lambda's GetFunction answer,
// without the members wharf never sets.
type functionView struct {
	Configuration configView
	Code          codeView
	Concurrency   *struct{ ReservedConcurrentExecutions int32 } `json:",omitempty"`
}

type codeView struct {
	RepositoryType, Location string
	ImageUri                 string `json:",omitempty"`
	ResolvedImageUri         string `json:",omitempty"`
}

type configView struct {
	FunctionName, FunctionArn, Runtime, Role, Handler, Description string
	CodeSize                                                       int64
	CodeSha256, Version, LastModified, RevisionId                  string
	Timeout, MemorySize, EphemeralStorage                          int32
	Environment                                                    map[string]string `json:",omitempty"`
	PackageType, State, StateReason                                string
	StateReasonCode                                                string `json:",omitempty"`
	LastUpdateStatus                                               string
	Architectures                                                  []string
	ImageConfig                                                    *lambda.ImageConfig `json:",omitempty"`
}

func viewOf(c *lambda.FunctionConfiguration) configView {
	v := configView{
		FunctionName: c.FunctionName, FunctionArn: c.FunctionArn, Runtime: c.Runtime,
		Role: c.Role, Handler: c.Handler, Description: c.Description,
		CodeSize: c.CodeSize, CodeSha256: c.CodeSha256, Version: c.Version,
		LastModified: c.LastModified, RevisionId: c.RevisionID,
		Timeout: c.Timeout, MemorySize: c.MemorySize, PackageType: c.PackageType,
		State: c.State, StateReason: c.StateReason, LastUpdateStatus: c.LastUpdateStatus,
		Architectures: c.Architectures, StateReasonCode: c.StateReasonCode,
	}
	if c.ImageConfigResponse != nil {
		v.ImageConfig = c.ImageConfigResponse.ImageConfig
	}
	if c.EphemeralStorage != nil {
		v.EphemeralStorage = c.EphemeralStorage.Size
	}
	if c.Environment != nil {
		v.Environment = c.Environment.Variables
	}
	return v
}

func newFnGetCommand() *cobra.Command {
	var qualifier string
	cmd := &cobra.Command{
		Use:     "get NAME",
		Aliases: []string{"inspect"},
		Short:   "Show a function's configuration, code and concurrency",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := fnClientFor(cmd)
			if err != nil {
				return err
			}
			out, err := c.GetFunction(cmd.Context(), args[0], qualifier)
			if err != nil {
				return err
			}
			v := functionView{
				Configuration: viewOf(&out.Configuration),
				Code:          codeView{RepositoryType: out.Code.RepositoryType, Location: out.Code.Location, ImageUri: out.Code.ImageURI, ResolvedImageUri: out.Code.ResolvedImageURI},
			}
			if out.Concurrency != nil && out.Concurrency.ReservedConcurrentExecutions != nil {
				v.Concurrency = &struct{ ReservedConcurrentExecutions int32 }{*out.Concurrency.ReservedConcurrentExecutions}
			}
			return printJSONIndented(cmd.OutOrStdout(), v)
		},
	}
	cmd.Flags().StringVarP(&qualifier, "qualifier", "q", "", "Version or alias")
	return cmd
}

func newFnRmCommand() *cobra.Command {
	var qualifier string
	cmd := &cobra.Command{
		Use:     "rm NAME [NAME...]",
		Aliases: []string{"remove", "delete"},
		Short:   "Delete functions (or one version with --qualifier)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := fnClientFor(cmd)
			if err != nil {
				return err
			}
			var failed error
			for _, name := range args {
				if err := c.DeleteFunction(cmd.Context(), name, qualifier); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "wharf: "+fnError(fnEndpoint(cmd), err).Error())
					failed = exitError{code: 1}
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), name)
			}
			return failed
		},
	}
	cmd.Flags().StringVarP(&qualifier, "qualifier", "q", "", "Delete only this version")
	return cmd
}

func newFnPublishCommand() *cobra.Command {
	var description string
	cmd := &cobra.Command{
		Use:   "publish NAME",
		Short: "Publish $LATEST as a new immutable version, and print its number",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := fnClientFor(cmd)
			if err != nil {
				return err
			}
			out, err := c.PublishVersion(cmd.Context(), args[0], description)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Version)
			return nil
		},
	}
	cmd.Flags().StringVar(&description, "description", "", "Description of the version")
	return cmd
}

func newFnVersionsCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "versions NAME",
		Short: "List a function's versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := fnClientFor(cmd)
			if err != nil {
				return err
			}
			vs, err := c.ListVersionsByFunction(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var rows []any
			for _, v := range vs {
				rows = append(rows, rowOf(v))
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.Version}}\t{{.Memory}}\t{{.Timeout}}\t{{.State}}\t{{.LastModified}}", fnHeader(), rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template, or json")
	return cmd
}

func newFnAliasCommand() *cobra.Command {
	c := &cobra.Command{Use: "alias", Short: "Manage a function's aliases"}
	var description string
	set := &cobra.Command{
		Use:   "set NAME ALIAS VERSION",
		Short: "Point an alias at a version, creating the alias if needed",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := fnClientFor(cmd)
			if err != nil {
				return err
			}
			in := &lambda.AliasInput{FunctionName: args[0], Name: args[1], FunctionVersion: args[2], Description: description}
			out, err := c.UpdateAlias(cmd.Context(), in)
			if lambda.IsCode(err, "ResourceNotFoundException") {
				out, err = c.CreateAlias(cmd.Context(), in)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.AliasArn)
			return nil
		},
	}
	set.Flags().StringVar(&description, "description", "", "Description of the alias")
	ls := &cobra.Command{
		Use:   "ls NAME",
		Short: "List a function's aliases",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := fnClientFor(cmd)
			if err != nil {
				return err
			}
			as, err := c.ListAliases(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var rows []any
			for _, a := range as {
				rows = append(rows, struct{ Name, Version, Description string }{a.Name, a.FunctionVersion, a.Description})
			}
			return renderFormatted(cmd.OutOrStdout(), "", "table {{.Name}}\t{{.Version}}\t{{.Description}}",
				map[string]string{"Name": "ALIAS", "Version": "VERSION", "Description": "DESCRIPTION"}, rows)
		},
	}
	rm := &cobra.Command{
		Use:   "rm NAME ALIAS",
		Short: "Delete an alias",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := fnClientFor(cmd)
			if err != nil {
				return err
			}
			return c.DeleteAlias(cmd.Context(), args[0], args[1])
		},
	}
	c.AddCommand(set, ls, rm)
	return c
}

func newFnConcurrencyCommand() *cobra.Command {
	var clear bool
	cmd := &cobra.Command{
		Use:   "concurrency NAME [N]",
		Short: "Show, set (N) or clear (--clear) a function's reserved concurrency",
		Long: `Show, set or clear a function's reserved concurrency: at most N
invocations run at once, further ones are throttled (TooManyRequestsException).
N=0 stops the function from being invoked.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			var n *int32
			if len(args) == 2 {
				v, err := strconv.Atoi(args[1])
				if err != nil || v < 0 {
					return fmt.Errorf("concurrency %q: want a number, 0 or more: %w", args[1], errdefs.ErrInvalidArgument)
				}
				n = int32p(v)
			}
			if clear && n != nil {
				return fmt.Errorf("give N or --clear, not both: %w", errdefs.ErrInvalidArgument)
			}
			c, err := fnClientFor(cmd)
			if err != nil {
				return err
			}
			switch {
			case clear:
				return c.DeleteFunctionConcurrency(cmd.Context(), name)
			case n != nil:
				return c.PutFunctionConcurrency(cmd.Context(), name, *n)
			}
			reserved, err := c.GetFunctionConcurrency(cmd.Context(), name)
			if err != nil {
				return err
			}
			if reserved == nil {
				fmt.Fprintln(cmd.OutOrStdout(), "unreserved")
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), *reserved)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&clear, "clear", false, "Remove the reservation")
	return cmd
}
