package main

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// The credentials file `wharf keys create --save` writes and `wharf fn`
// reads is an AWS shared credentials file, so the aws CLI and SDKs can use
// it too (AWS_SHARED_CREDENTIALS_FILE=~/.wharf/credentials):
//
//	[default]
//	aws_access_key_id = AKIA...
//	aws_secret_access_key = ...
const credentialsHelp = `Credentials for the Lambda API come from, in order:
  1. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY;
  2. the [default] profile (or $WHARF_PROFILE) of the credentials file,
     $WHARF_CREDENTIALS_FILE or ~/.wharf/credentials, which
     'wharf keys create --save' writes (mode 0600). It is an AWS shared
     credentials file: the aws CLI reads it with
     AWS_SHARED_CREDENTIALS_FILE=~/.wharf/credentials.`

// credentialsPath is where the credentials file lives.
func credentialsPath() (string, error) {
	if p := os.Getenv("WHARF_CREDENTIALS_FILE"); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the credentials file: %v (set WHARF_CREDENTIALS_FILE)", err)
	}
	return filepath.Join(home, ".wharf", "credentials"), nil
}

// readCredentials returns the key pair of profile in an AWS shared
// credentials file.
func readCredentials(path, profile string) (id, secret string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "", line[0] == '#', line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = strings.TrimSpace(strings.TrimPrefix(line[1:len(line)-1], "profile "))
		case section == profile:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "aws_access_key_id":
				id = strings.TrimSpace(v)
			case "aws_secret_access_key":
				secret = strings.TrimSpace(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	if id == "" || secret == "" {
		return "", "", fmt.Errorf("%s has no aws_access_key_id and aws_secret_access_key in [%s]", path, profile)
	}
	return id, secret, nil
}

// writeCredentials writes a credentials file holding one [default] key,
// readable by its owner only; an existing file is replaced.
func writeCredentials(path, id, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data := fmt.Sprintf("# written by `wharf keys create --save`\n[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", id, secret)
	return atomicfile.WriteFile(path, []byte(data), 0o600)
}

// newKeysCommand is `wharf keys`: the access keys of the Lambda API.
func newKeysCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "keys",
		Short: "Manage access keys for wharf's AWS-compatible APIs",
		Long: `Manage the access keys that sign requests to wharf's AWS-compatible APIs
(the Lambda API on the daemon's --http address). The daemon keeps the keys in
a root-only file; a secret is shown once, when its key is created.

` + policyHelp + `

` + credentialsHelp,
	}
	c.AddCommand(newKeysCreateCommand(), newKeysLsCommand(), newKeysRmCommand())
	return c
}

// policyHelp documents --policy.
const policyHelp = `A key's policy says what it may do, as statements service:actions:resource
(--policy, repeatable): the service ("lambda", "ecr", "ecs", or "*"), actions as IAM
names them, separated by commas ("InvokeFunction,GetFunction", or "*"), and the
resources: "*", a name, or a name prefix ending in "*" (a function's name for
Lambda, a repository's for ECR and the registry). Actions on no particular
resource (ListFunctions, GetAuthorizationToken) need "*"; ECS's resource is a
task definition family or a cluster name. For the registry,
pull, push and delete stand for the ECR actions docker pull and push need.
  --policy 'lambda:*:*'                               all of Lambda
  --policy 'lambda:InvokeFunction,GetFunction:orders-*'
  --policy 'ecr:pull,push:team/*' --policy 'ecr:GetAuthorizationToken:*'
--admin allows everything ("*:*:*"). A key with neither has the default
policy: the whole Lambda API on every function, except creating image
functions or changing their image (UpdateFunctionCode with an image,
ImageConfig), which need an admin key.`

func newKeysCreateCommand() *cobra.Command {
	var asJSON, save, admin bool
	var policies []string
	cmd := &cobra.Command{
		Use:   "create [--json] [--save] [--admin] [--policy service:actions:resource]...",
		Short: "Create an access key and print it (the secret is shown only now)",
		Long:  "Create an access key and print it (the secret is shown only now).\n\n" + policyHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var k wharf.AccessKey
			req := wharf.CreateKeyRequest{Admin: admin, Policies: policies}
			if err := c.Do(cmd.Context(), "POST", "/keys", nil, req, &k); err != nil {
				return err
			}
			if save {
				path, err := credentialsPath()
				if err != nil {
					return err
				}
				if err := writeCredentials(path, k.AccessKeyID, k.SecretAccessKey); err != nil {
					return fmt.Errorf("saving the key: %w", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Saved to %s\n", path)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSONIndented(out, struct{ AccessKeyId, SecretAccessKey string }{k.AccessKeyID, k.SecretAccessKey})
			}
			fmt.Fprintf(out, "AccessKeyId:     %s\nSecretAccessKey: %s\n", k.AccessKeyID, k.SecretAccessKey)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `Print {"AccessKeyId": ..., "SecretAccessKey": ...}`)
	cmd.Flags().BoolVar(&save, "save", false, "Also write the key to the credentials file ($WHARF_CREDENTIALS_FILE or ~/.wharf/credentials, mode 0600)")
	cmd.Flags().BoolVar(&admin, "admin", false, `Allow everything ("*:*:*"), image functions included`)
	cmd.Flags().StringArrayVar(&policies, "policy", nil, "Allow service:actions:resource, e.g. 'lambda:InvokeFunction:orders-*' (repeatable; see above)")
	return cmd
}

// keyRow is one line of `keys ls`.
type keyRow struct {
	AccessKeyId string
	Created     string
	Policy      string
}

// policyColumn shows a key's policy in `keys ls`.
func policyColumn(policies []string) string {
	switch {
	case len(policies) == 0:
		return "default"
	case len(policies) == 1 && policies[0] == "*:*:*":
		return "admin"
	}
	return strings.Join(policies, " ")
}

func newKeysLsCommand() *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List access keys (without their secrets)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var keys []wharf.AccessKey
			if err := c.Do(cmd.Context(), "GET", "/keys", nil, nil, &keys); err != nil {
				return err
			}
			rows := make([]any, 0, len(keys))
			for _, k := range keys {
				rows = append(rows, keyRow{AccessKeyId: k.AccessKeyID, Created: k.Created.Local().Format(time.RFC3339), Policy: policyColumn(k.Policies)})
			}
			if quiet {
				format = "{{.AccessKeyId}}"
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.AccessKeyId}}\t{{.Created}}\t{{.Policy}}",
				map[string]string{"AccessKeyId": "ACCESS KEY ID", "Created": "CREATED", "Policy": "POLICY"}, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template, or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display key ids")
	return cmd
}

func newKeysRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID [ID...]",
		Aliases: []string{"remove", "revoke"},
		Short:   "Revoke access keys; requests signed with them are refused at once",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var failed error
			for _, id := range args {
				if err := c.Do(cmd.Context(), "DELETE", "/keys/"+url.PathEscape(id), nil, nil, nil); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "wharf: "+err.Error())
					failed = exitError{code: 1}
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), id)
			}
			return failed
		},
	}
}
