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

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/errdefs"
)

// defaultFnEndpoint is the daemon's default --http address.
const defaultFnEndpoint = "http://127.0.0.1:9280"

// defaultRole is sent when --role is not given: Lambda's API requires a
// role, and wharf keeps it without enforcing it.
const defaultRole = "arn:aws:iam::000000000000:role/wharf-function"

// newFnCommand is `wharf fn`: functions, through the daemon's Lambda API
// with aws-sdk-go-v2's client, exactly as the aws CLI would drive them.
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

// wrapFnErrors makes the SDK's errors read like wharf's: "Exception:
// message" instead of the whole operation trace, an errdefs class for
// the exit path, and a hint when the daemon cannot be reached.
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
	var ae smithy.APIError
	var re *awshttp.ResponseError
	switch {
	case err == nil, errors.As(err, &ee):
		return err
	case errors.As(err, &ae):
		class := errdefs.ErrInvalidArgument
		if errors.As(err, &re) {
			switch code := re.HTTPStatusCode(); {
			case code == 404:
				class = errdefs.ErrNotFound
			case code == 409:
				class = errdefs.ErrConflict
			case code == 401, code == 403:
				class = errdefs.ErrUnauthorized
			case code == 429, code >= 500:
				class = errdefs.ErrUnavailable
			}
		}
		return fmt.Errorf("%s: %s%w", ae.ErrorCode(), ae.ErrorMessage(), silentClass{class})
	case errors.As(err, new(*net.OpError)):
		return fmt.Errorf("cannot reach the Lambda API at %s (is `wharf daemon` serving --http there? see --endpoint): %w", endpoint, errors.Join(err, errdefs.ErrUnavailable))
	}
	return err
}

// silentClass carries an errdefs class without adding text to a message.
type silentClass struct{ class error }

func (s silentClass) Error() string { return "" }
func (s silentClass) Unwrap() error { return s.class }

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
	return lambda.New(lambda.Options{
		BaseEndpoint: aws.String(fnEndpoint(cmd)),
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
	}), nil
}

// deployOptions are `fn deploy`'s flags.
type deployOptions struct {
	zip, image, runtime, handler, role, description string
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
func (o *deployOptions) code() (*types.FunctionCode, error) {
	switch {
	case o.zip != "":
		data, err := os.ReadFile(o.zip)
		if err != nil {
			return nil, fmt.Errorf("--zip: %w", err)
		}
		return &types.FunctionCode{ZipFile: data}, nil
	case o.image != "":
		return &types.FunctionCode{ImageUri: aws.String(o.image)}, nil
	}
	return nil, nil
}

// createInput is CreateFunction for a new function: every flag, with its
// default when not given.
func (o *deployOptions) createInput(name string, code *types.FunctionCode) (*lambda.CreateFunctionInput, error) {
	env, err := parseEnv(o.env)
	if err != nil {
		return nil, err
	}
	in := &lambda.CreateFunctionInput{
		FunctionName:     aws.String(name),
		Role:             aws.String(o.role),
		Code:             code,
		MemorySize:       aws.Int32(int32(o.memory)),
		Timeout:          aws.Int32(int32(o.timeout)),
		EphemeralStorage: &types.EphemeralStorage{Size: aws.Int32(int32(o.ephemeral))},
		Publish:          o.publish,
		PackageType:      types.PackageTypeZip,
	}
	if o.description != "" {
		in.Description = aws.String(o.description)
	}
	if code.ImageUri != nil {
		in.PackageType = types.PackageTypeImage
		if o.changed("runtime") {
			return nil, fmt.Errorf("--runtime does not apply to --image functions: %w", errdefs.ErrInvalidArgument)
		}
	} else {
		in.Runtime = types.Runtime(o.runtime)
		in.Handler = aws.String(o.handler)
	}
	if env != nil {
		in.Environment = &types.Environment{Variables: env}
	}
	return in, nil
}

// configInput is UpdateFunctionConfiguration for an existing function:
// only the flags given, or nil when none is.
func (o *deployOptions) configInput(name string) (*lambda.UpdateFunctionConfigurationInput, error) {
	in := &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name)}
	set := false
	str := func(flag, v string) *string {
		if !o.changed(flag) {
			return nil
		}
		set = true
		return aws.String(v)
	}
	num := func(flag string, v int) *int32 {
		if !o.changed(flag) {
			return nil
		}
		set = true
		return aws.Int32(int32(v))
	}
	in.Role, in.Handler, in.Description = str("role", o.role), str("handler", o.handler), str("description", o.description)
	in.MemorySize, in.Timeout = num("memory", o.memory), num("timeout", o.timeout)
	if o.changed("runtime") {
		in.Runtime, set = types.Runtime(o.runtime), true
	}
	if size := num("ephemeral-storage", o.ephemeral); size != nil {
		in.EphemeralStorage = &types.EphemeralStorage{Size: size}
	}
	if o.changed("env") {
		env, err := parseEnv(o.env)
		if err != nil {
			return nil, err
		}
		if env == nil {
			env = map[string]string{}
		}
		in.Environment, set = &types.Environment{Variables: env}, true
	}
	if !set {
		return nil, nil
	}
	return in, nil
}

// deploy creates the function, or updates its configuration then its code
// (Lambda accepts one update at a time), then sets its concurrency. It
// returns the configuration last answered.
func deploy(ctx context.Context, c *lambda.Client, name string, o *deployOptions) (*types.FunctionConfiguration, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	code, err := o.code()
	if err != nil {
		return nil, err
	}
	_, err = c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	var nf *types.ResourceNotFoundException
	var last *types.FunctionConfiguration
	switch {
	case errors.As(err, &nf):
		if code == nil {
			return nil, fmt.Errorf("function %s does not exist: give --zip or --image to create it: %w", name, errdefs.ErrInvalidArgument)
		}
		in, err := o.createInput(name, code)
		if err != nil {
			return nil, err
		}
		out, err := c.CreateFunction(ctx, in)
		if err != nil {
			return nil, err
		}
		last = createdConfig(out)
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
			out, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
				FunctionName: aws.String(name), ZipFile: code.ZipFile, ImageUri: code.ImageUri, Publish: o.publish,
			})
			if err != nil {
				return nil, err
			}
			last = codeConfig(out)
		case o.publish:
			out, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name), Description: aws.String(o.description)})
			if err != nil {
				return nil, err
			}
			last = publishedConfig(out)
		}
	}
	if o.changed("concurrency") {
		if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
			FunctionName: aws.String(name), ReservedConcurrentExecutions: aws.Int32(int32(o.concurrency)),
		}); err != nil {
			return nil, err
		}
	}
	ready, err := waitReady(ctx, c, name, o.wait)
	if err != nil {
		return nil, err
	}
	if last == nil || aws.ToString(last.Version) == "$LATEST" {
		last = ready
	}
	return last, nil
}

// waitReady polls $LATEST until it is no longer Pending or updating; a
// Failed function is an error with Lambda's reason.
func waitReady(ctx context.Context, c *lambda.Client, name string, limit time.Duration) (*types.FunctionConfiguration, error) {
	deadline := time.Now().Add(limit)
	delay := 50 * time.Millisecond
	for {
		out, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil {
			return nil, err
		}
		cfg := configOf(out)
		switch {
		case out.State == types.StateFailed:
			return nil, fmt.Errorf("function %s failed: %s", name, aws.ToString(out.StateReason))
		case out.LastUpdateStatus == types.LastUpdateStatusFailed:
			return nil, fmt.Errorf("updating function %s failed: %s", name, aws.ToString(out.LastUpdateStatusReason))
		case out.State != types.StatePending && out.LastUpdateStatus != types.LastUpdateStatusInProgress:
			return cfg, nil
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
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, version %s\n%s\n", aws.ToString(cfg.FunctionName), cfg.State,
				aws.ToString(cfg.Version), aws.ToString(cfg.FunctionArn))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.zip, "zip", "", "Zip package whose `bootstrap` implements the Lambda Runtime API")
	f.StringVar(&o.image, "image", "", "OCI image implementing the Lambda Runtime API")
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
	in := &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeRequestResponse}
	if o.qualifier != "" {
		in.Qualifier = aws.String(o.qualifier)
	}
	switch {
	case o.async:
		in.InvocationType = types.InvocationTypeEvent
	case o.dryRun:
		in.InvocationType = types.InvocationTypeDryRun
	case !o.noLogs:
		in.LogType = types.LogTypeTail
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
	if out.LogResult != nil {
		if logs, err := base64.StdEncoding.DecodeString(*out.LogResult); err == nil {
			_, _ = stderr.Write(logs)
			if len(logs) > 0 && logs[len(logs)-1] != '\n' {
				fmt.Fprintln(stderr)
			}
		}
	}
	switch out.StatusCode {
	case 202:
		id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		fmt.Fprintf(stderr, "Accepted for asynchronous invocation (request %s)\n", id)
		return nil
	case 204:
		fmt.Fprintf(stderr, "Dry run: the request would be accepted (version %s)\n", aws.ToString(out.ExecutedVersion))
		return nil
	}
	if len(out.Payload) > 0 {
		_, _ = stdout.Write(out.Payload)
		if out.Payload[len(out.Payload)-1] != '\n' {
			fmt.Fprintln(stdout)
		}
	}
	if out.FunctionError != nil {
		var f functionFailure
		msg := "function error (" + *out.FunctionError + ")"
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

func rowOf(c types.FunctionConfiguration) fnRow {
	rt := string(c.Runtime)
	if c.PackageType == types.PackageTypeImage {
		rt = "image"
	}
	return fnRow{
		Name: aws.ToString(c.FunctionName), Runtime: rt,
		Memory: strconv.Itoa(int(aws.ToInt32(c.MemorySize))) + " MB", Timeout: strconv.Itoa(int(aws.ToInt32(c.Timeout))) + " s",
		State: string(c.State), Version: aws.ToString(c.Version), LastModified: aws.ToString(c.LastModified),
		Arn: aws.ToString(c.FunctionArn),
	}
}

var fnHeader = map[string]string{"Name": "NAME", "Runtime": "RUNTIME", "Memory": "MEMORY", "Timeout": "TIMEOUT",
	"State": "STATE", "Version": "VERSION", "LastModified": "LAST MODIFIED", "Arn": "ARN"}

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
			var rows []any
			p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{})
			for p.HasMorePages() {
				page, err := p.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				for _, f := range page.Functions {
					rows = append(rows, rowOf(f))
				}
			}
			if quiet {
				format = "{{.Name}}"
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.Name}}\t{{.Runtime}}\t{{.Memory}}\t{{.Timeout}}\t{{.State}}\t{{.LastModified}}", fnHeader, rows)
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
	Code          struct{ RepositoryType, Location, ImageUri string }
	Concurrency   *struct{ ReservedConcurrentExecutions int32 } `json:",omitempty"`
}

type configView struct {
	FunctionName, FunctionArn, Runtime, Role, Handler, Description string
	CodeSize                                                       int64
	CodeSha256, Version, LastModified, RevisionId                  string
	Timeout, MemorySize, EphemeralStorage                          int32
	Environment                                                    map[string]string `json:",omitempty"`
	PackageType, State, StateReason, LastUpdateStatus              string
	Architectures                                                  []types.Architecture
}

func viewOf(c *types.FunctionConfiguration) configView {
	v := configView{
		FunctionName: aws.ToString(c.FunctionName), FunctionArn: aws.ToString(c.FunctionArn), Runtime: string(c.Runtime),
		Role: aws.ToString(c.Role), Handler: aws.ToString(c.Handler), Description: aws.ToString(c.Description),
		CodeSize: c.CodeSize, CodeSha256: aws.ToString(c.CodeSha256), Version: aws.ToString(c.Version),
		LastModified: aws.ToString(c.LastModified), RevisionId: aws.ToString(c.RevisionId),
		Timeout: aws.ToInt32(c.Timeout), MemorySize: aws.ToInt32(c.MemorySize), PackageType: string(c.PackageType),
		State: string(c.State), StateReason: aws.ToString(c.StateReason), LastUpdateStatus: string(c.LastUpdateStatus),
		Architectures: c.Architectures,
	}
	if c.EphemeralStorage != nil {
		v.EphemeralStorage = aws.ToInt32(c.EphemeralStorage.Size)
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
			in := &lambda.GetFunctionInput{FunctionName: aws.String(args[0])}
			if qualifier != "" {
				in.Qualifier = aws.String(qualifier)
			}
			out, err := c.GetFunction(cmd.Context(), in)
			if err != nil {
				return err
			}
			var v functionView
			if out.Configuration != nil {
				v.Configuration = viewOf(out.Configuration)
			}
			if out.Code != nil {
				v.Code.RepositoryType, v.Code.Location, v.Code.ImageUri = aws.ToString(out.Code.RepositoryType), aws.ToString(out.Code.Location), aws.ToString(out.Code.ImageUri)
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
				in := &lambda.DeleteFunctionInput{FunctionName: aws.String(name)}
				if qualifier != "" {
					in.Qualifier = aws.String(qualifier)
				}
				if _, err := c.DeleteFunction(cmd.Context(), in); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "wharf: "+err.Error())
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
			out, err := c.PublishVersion(cmd.Context(), &lambda.PublishVersionInput{FunctionName: aws.String(args[0]), Description: aws.String(description)})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), aws.ToString(out.Version))
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
			var rows []any
			p := lambda.NewListVersionsByFunctionPaginator(c, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(args[0])})
			for p.HasMorePages() {
				page, err := p.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				for _, v := range page.Versions {
					rows = append(rows, rowOf(v))
				}
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.Version}}\t{{.Memory}}\t{{.Timeout}}\t{{.State}}\t{{.LastModified}}", fnHeader, rows)
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
			in := &lambda.UpdateAliasInput{FunctionName: aws.String(args[0]), Name: aws.String(args[1]), FunctionVersion: aws.String(args[2])}
			if description != "" {
				in.Description = aws.String(description)
			}
			out, err := c.UpdateAlias(cmd.Context(), in)
			var nf *types.ResourceNotFoundException
			if errors.As(err, &nf) {
				var created *lambda.CreateAliasOutput
				created, err = c.CreateAlias(cmd.Context(), &lambda.CreateAliasInput{FunctionName: in.FunctionName, Name: in.Name, FunctionVersion: in.FunctionVersion, Description: in.Description})
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), aws.ToString(created.AliasArn))
				}
				return err
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), aws.ToString(out.AliasArn))
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
			var rows []any
			p := lambda.NewListAliasesPaginator(c, &lambda.ListAliasesInput{FunctionName: aws.String(args[0])})
			for p.HasMorePages() {
				page, err := p.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				for _, a := range page.Aliases {
					rows = append(rows, struct{ Name, Version, Description string }{aws.ToString(a.Name), aws.ToString(a.FunctionVersion), aws.ToString(a.Description)})
				}
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
			_, err = c.DeleteAlias(cmd.Context(), &lambda.DeleteAliasInput{FunctionName: aws.String(args[0]), Name: aws.String(args[1])})
			return err
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
			name := aws.String(args[0])
			var n *int32
			if len(args) == 2 {
				v, err := strconv.Atoi(args[1])
				if err != nil || v < 0 {
					return fmt.Errorf("concurrency %q: want a number, 0 or more: %w", args[1], errdefs.ErrInvalidArgument)
				}
				n = aws.Int32(int32(v))
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
				_, err = c.DeleteFunctionConcurrency(cmd.Context(), &lambda.DeleteFunctionConcurrencyInput{FunctionName: name})
				return err
			case n != nil:
				_, err = c.PutFunctionConcurrency(cmd.Context(), &lambda.PutFunctionConcurrencyInput{FunctionName: name, ReservedConcurrentExecutions: n})
				return err
			}
			out, err := c.GetFunctionConcurrency(cmd.Context(), &lambda.GetFunctionConcurrencyInput{FunctionName: name})
			if err != nil {
				return err
			}
			if out.ReservedConcurrentExecutions == nil {
				fmt.Fprintln(cmd.OutOrStdout(), "unreserved")
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), *out.ReservedConcurrentExecutions)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&clear, "clear", false, "Remove the reservation")
	return cmd
}

// The operations answer FunctionConfiguration under different output
// types; these convert them for deploy's report.

func configOf(o *lambda.GetFunctionConfigurationOutput) *types.FunctionConfiguration {
	return &types.FunctionConfiguration{FunctionName: o.FunctionName, FunctionArn: o.FunctionArn, Version: o.Version, State: o.State,
		StateReason: o.StateReason, LastUpdateStatus: o.LastUpdateStatus}
}

func createdConfig(o *lambda.CreateFunctionOutput) *types.FunctionConfiguration {
	return &types.FunctionConfiguration{FunctionName: o.FunctionName, FunctionArn: o.FunctionArn, Version: o.Version, State: o.State}
}

func codeConfig(o *lambda.UpdateFunctionCodeOutput) *types.FunctionConfiguration {
	return &types.FunctionConfiguration{FunctionName: o.FunctionName, FunctionArn: o.FunctionArn, Version: o.Version, State: o.State}
}

func publishedConfig(o *lambda.PublishVersionOutput) *types.FunctionConfiguration {
	return &types.FunctionConfiguration{FunctionName: o.FunctionName, FunctionArn: o.FunctionArn, Version: o.Version, State: o.State}
}
