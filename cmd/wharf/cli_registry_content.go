package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// `wharf registry repos|images|rm|policy`: the registry's content through
// the daemon's native API (api/wharf/registry.go).

func newRegistryReposCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "repos",
		Short: "List the registry's repositories with their image count and size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var repos []wharf.RegistryRepository
			if err := c.Do(cmd.Context(), "GET", "/registry/repositories", nil, nil, &repos); err != nil {
				return err
			}
			if asJSON {
				return printJSONIndented(cmd.OutOrStdout(), repos)
			}
			tw := newTabWriter(cmd.OutOrStdout())
			fmt.Fprintln(tw, "REPOSITORY\tIMAGES\tSIZE\tTAGS\tPOLICY\tCREATED")
			now := time.Now()
			for _, r := range repos {
				policy := ""
				if r.HasPolicy {
					policy = "lifecycle"
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, r.Images, humanSize(r.Size), strings.ToLower(r.TagMutability), policy, humanAgo(r.Created, now))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "Print JSON")
	return cmd
}

func newRegistryImagesCommand() *cobra.Command {
	var asJSON, noTrunc bool
	cmd := &cobra.Command{
		Use:   "images REPOSITORY",
		Short: "List a repository's images: digest, tags, size, push and last pull",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var imgs []wharf.RegistryImage
			if err := c.Do(cmd.Context(), "GET", "/registry/images", url.Values{"repository": {args[0]}}, nil, &imgs); err != nil {
				return err
			}
			if asJSON {
				return printJSONIndented(cmd.OutOrStdout(), imgs)
			}
			printRegistryImages(cmd.OutOrStdout(), imgs, noTrunc, nil)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "Print JSON")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Print whole digests")
	return cmd
}

// printRegistryImages prints images as a table; rules, when given, adds
// the rule that expires each.
func printRegistryImages(w io.Writer, imgs []wharf.RegistryImage, noTrunc bool, rules []int) {
	tw := newTabWriter(w)
	head := "DIGEST\tTAGS\tSIZE\tPUSHED\tLAST PULL"
	if rules != nil {
		head += "\tRULE"
	}
	fmt.Fprintln(tw, head)
	now := time.Now()
	for i, im := range imgs {
		d := im.Digest
		if !noTrunc && len(d) > 19 {
			d = d[:19]
		}
		tags := append([]string(nil), im.Tags...)
		sort.Strings(tags)
		pulled := humanAgo(im.LastPull, now)
		if pulled == "" {
			pulled = "never"
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", d, strings.Join(tags, ","), humanSize(im.Size), humanAgo(im.Pushed, now), pulled)
		if rules != nil {
			line += fmt.Sprintf("\t%d", rules[i])
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}

// splitImageRef splits REPO[:TAG|@DIGEST].
func splitImageRef(s string) (repo, tag, digest string) {
	if i := strings.Index(s, "@"); i >= 0 {
		return s[:i], "", s[i+1:]
	}
	if i := strings.LastIndex(s, ":"); i >= 0 && !strings.Contains(s[i:], "/") {
		return s[:i], s[i+1:], ""
	}
	return s, "", ""
}

func newRegistryRmCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rm REPOSITORY[:TAG|@DIGEST]...",
		Short: "Delete images, tags or whole repositories",
		Long: `Delete from the registry:

  REPOSITORY:TAG     the tag, and its image when no other tag names it
  REPOSITORY@DIGEST  the image and every tag naming it
  REPOSITORY         the repository (--force when it still holds images)

Blobs no image references any more are freed by 'wharf registry gc'.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			for _, a := range args {
				repo, tag, dg := splitImageRef(a)
				if tag == "" && dg == "" {
					q := url.Values{"repository": {repo}}
					if force {
						q.Set("force", "1")
					}
					var r wharf.RegistryRepository
					if err := c.Do(cmd.Context(), "DELETE", "/registry/repositories", q, nil, &r); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "Deleted repository: %s\n", repo)
					continue
				}
				var del wharf.RegistryDeleted
				if err := c.Do(cmd.Context(), "DELETE", "/registry/images", url.Values{"repository": {repo}, "tag": {tag}, "digest": {dg}}, nil, &del); err != nil {
					return err
				}
				for _, t := range del.Tags {
					fmt.Fprintf(cmd.OutOrStdout(), "Untagged: %s:%s\n", repo, t)
				}
				if del.Image {
					fmt.Fprintf(cmd.OutOrStdout(), "Deleted: %s@%s\n", repo, del.Digest)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Delete a repository that still holds images")
	return cmd
}

// readPolicyArg reads a policy file ("-": stdin).
func readPolicyArg(cmd *cobra.Command, name string) (io.Reader, error) {
	if name == "-" {
		return cmd.InOrStdin(), nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return strings.NewReader(string(b)), nil
}

func newRegistryPolicyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Set, show, preview and apply a repository's lifecycle policy (ECR's rules)",
		Long: `A repository's lifecycle policy, in ECR's language: rules by rulePriority,
each selecting images by tagStatus (tagged with tagPrefixList or
tagPatternList, untagged, any) and expiring those beyond countNumber
(countType imageCountMoreThan) or older than countNumber days
(sinceImagePushed). The daemon applies the policies every
--registry-lifecycle-interval; 'preview' shows exactly what that would
expire now, and 'apply' does it now.

  {"rules":[{"rulePriority":1,"description":"keep 10",
    "selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},
    "action":{"type":"expire"}}]}`,
	}
	var asJSON bool
	set := &cobra.Command{
		Use:   "set REPOSITORY FILE|-",
		Short: "Set a repository's lifecycle policy",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			body, err := readPolicyArg(cmd, args[1])
			if err != nil {
				return err
			}
			var p wharf.RegistryPolicy
			return c.Do(cmd.Context(), "PUT", "/registry/policy", url.Values{"repository": {args[0]}}, body, &p)
		},
	}
	get := &cobra.Command{
		Use:   "get REPOSITORY",
		Short: "Print a repository's lifecycle policy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var p wharf.RegistryPolicy
			if err := c.Do(cmd.Context(), "GET", "/registry/policy", url.Values{"repository": {args[0]}}, nil, &p); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), p.Text)
			return nil
		},
	}
	del := &cobra.Command{
		Use:   "rm REPOSITORY",
		Short: "Remove a repository's lifecycle policy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var p wharf.RegistryPolicy
			return c.Do(cmd.Context(), "DELETE", "/registry/policy", url.Values{"repository": {args[0]}}, nil, &p)
		},
	}
	preview := &cobra.Command{
		Use:   "preview REPOSITORY [FILE|-]",
		Short: "List what a policy (default: the repository's) would expire now",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var body any
			if len(args) == 2 {
				if body, err = readPolicyArg(cmd, args[1]); err != nil {
					return err
				}
			}
			var exp []wharf.RegistryExpiry
			if err := c.Do(cmd.Context(), "POST", "/registry/policy/preview", url.Values{"repository": {args[0]}}, body, &exp); err != nil {
				return err
			}
			if asJSON {
				return printJSONIndented(cmd.OutOrStdout(), exp)
			}
			printExpiries(cmd.OutOrStdout(), exp)
			return nil
		},
	}
	preview.Flags().BoolVar(&asJSON, "json", false, "Print JSON")
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Apply every repository's lifecycle policy now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var done map[string][]wharf.RegistryExpiry
			if err := c.Do(cmd.Context(), "POST", "/registry/lifecycle", nil, nil, &done); err != nil {
				return err
			}
			repos := make([]string, 0, len(done))
			for r := range done {
				repos = append(repos, r)
			}
			sort.Strings(repos)
			for _, r := range repos {
				for _, e := range done[r] {
					fmt.Fprintf(cmd.OutOrStdout(), "Expired: %s@%s (rule %d)\n", r, e.Image.Digest, e.RulePriority)
				}
			}
			return nil
		},
	}
	c.AddCommand(set, get, del, preview, apply)
	return c
}

func printExpiries(w io.Writer, exp []wharf.RegistryExpiry) {
	imgs := make([]wharf.RegistryImage, len(exp))
	rules := make([]int, len(exp))
	for i, e := range exp {
		imgs[i], rules[i] = e.Image, e.RulePriority
	}
	printRegistryImages(w, imgs, false, rules)
}
