package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// imageRow is one line of `wharf images`; the field names are docker's
// template names, so `--format '{{.Repository}}:{{.Tag}}'` works as there.
type imageRow struct {
	Containers   string
	CreatedAt    string
	CreatedSince string
	Digest       string
	ID           string
	Repository   string
	Size         string
	Tag          string
}

const defaultImagesFormat = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"

// imageHeader names the columns of the table (built on use, not at every
// wharf process's init).
func imageHeader() map[string]string {
	return map[string]string{
		"Containers": "CONTAINERS", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED",
		"Digest": "DIGEST", "ID": "IMAGE ID", "Repository": "REPOSITORY", "Size": "SIZE", "Tag": "TAG",
	}
}

// splitRepoTag splits "repo:tag"; a colon before the last slash belongs to
// a registry port, not a tag.
func splitRepoTag(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || i < strings.LastIndex(ref, "/") {
		return ref, "<none>"
	}
	return ref[:i], ref[i+1:]
}

// imageRows expands image summaries into one row per tag (or one
// "<none>" row for an untagged image), newest first as docker lists them.
// filter, when set, keeps rows whose repository or repo:tag equals it.
func imageRows(images []wharf.ImageSummary, filter string, noTrunc bool, now time.Time) []imageRow {
	sorted := append([]wharf.ImageSummary(nil), images...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Created > sorted[j].Created })
	var rows []imageRow
	for _, im := range sorted {
		id := shortID(im.ID)
		if noTrunc {
			id = im.ID
		}
		created := time.Unix(im.Created, 0)
		base := imageRow{
			Containers:   fmt.Sprint(im.Containers),
			CreatedAt:    created.String(),
			CreatedSince: humanAgo(created, now),
			Digest:       "<none>",
			ID:           id,
			Size:         humanSize(im.Size),
		}
		if im.Containers < 0 {
			base.Containers = "N/A"
		}
		if len(im.RepoDigests) > 0 {
			if _, d, ok := strings.Cut(im.RepoDigests[0], "@"); ok {
				base.Digest = d
			}
		}
		tags := im.RepoTags
		if len(tags) == 0 {
			tags = []string{"<none>:<none>"}
		}
		for _, t := range tags {
			r := base
			r.Repository, r.Tag = splitRepoTag(t)
			if filter != "" && filter != r.Repository && filter != t {
				continue
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// newImagesCommand is `wharf images`.
func newImagesCommand() *cobra.Command {
	var all, quiet, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var images []wharf.ImageSummary
			if err := c.Do(cmd.Context(), "GET", "/images/json", query("all", boolParam(all)), nil, &images); err != nil {
				return err
			}
			filter := ""
			if len(args) == 1 {
				filter = args[0]
			}
			rows := imageRows(images, filter, noTrunc, time.Now())
			if quiet {
				seen := map[string]bool{}
				for _, r := range rows {
					if !seen[r.ID] {
						seen[r.ID] = true
						fmt.Fprintln(cmd.OutOrStdout(), r.ID)
					}
				}
				return nil
			}
			anyRows := make([]any, len(rows))
			for i, r := range rows {
				anyRows[i] = r
			}
			return renderFormatted(cmd.OutOrStdout(), format, defaultImagesFormat, imageHeader(), anyRows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all images (default hides intermediate images)")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	f.StringVar(&format, "format", "", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
	return cmd
}

// newPullCommand is `wharf pull`.
func newPullCommand() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return transferCommand(cmd, args[0], quiet, false)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

// newPushCommand is `wharf push`.
func newPushCommand() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return transferCommand(cmd, args[0], quiet, true)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

func transferCommand(cmd *cobra.Command, ref string, quiet, push bool) error {
	c, err := clientFor(cmd)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if !push && !quiet && !strings.Contains(ref, "@") && displayRef(ref) != ref {
		fmt.Fprintln(out, "Using default tag: latest")
	}
	return transferImage(cmd.Context(), c, ref, transferOptions{out: out, tty: isTerminal(out), quiet: quiet, push: push})
}

// newTagCommand is `wharf tag`.
func newTagCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			q := url.Values{"source": {args[0]}, "target": {args[1]}}
			return c.Do(cmd.Context(), "POST", "/images/tag", q, nil, nil)
		},
	}
}

// newRmiCommand is `wharf rmi`.
func newRmiCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			return forEach(cmd, args, func(ref string) error {
				var items []wharf.ImageDeleteItem
				q := query("ref", ref, "force", boolParam(force))
				if err := c.Do(cmd.Context(), "DELETE", "/images", q, nil, &items); err != nil {
					return err
				}
				printDeleteItems(cmd.OutOrStdout(), items)
				return nil
			}, nil)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force removal of the image")
	return cmd
}

func printDeleteItems(w io.Writer, items []wharf.ImageDeleteItem) {
	for _, it := range items {
		if it.Untagged != "" {
			fmt.Fprintln(w, "Untagged: "+it.Untagged)
		}
		if it.Deleted != "" {
			fmt.Fprintln(w, "Deleted: "+it.Deleted)
		}
	}
}

// newImportCommand is `wharf import`: a root filesystem tarball becomes
// a one-layer image.
func newImportCommand() *cobra.Command {
	var changes []string
	var message string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var in io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			q := url.Values{}
			if len(args) == 2 {
				q.Set("ref", args[1])
			}
			for _, ch := range changes {
				q.Add("change", ch)
			}
			if message != "" {
				// A daemon before API 1.1 would drop the message
				// silently.
				if err := c.RequireAPIVersion(cmd.Context(), "1.1", "import --message"); err != nil {
					return err
				}
				q.Set("message", message)
			}
			var resp wharf.ImportResponse
			if err := c.Do(cmd.Context(), "POST", "/images/import", q, in, &resp); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), resp.ID)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	cmd.Flags().StringVarP(&message, "message", "m", "", "Set commit message for imported image")
	return cmd
}

// newSaveCommand is `wharf save`.
func newSaveCommand() *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "" && format != "docker" && format != "oci" {
				return fmt.Errorf("invalid --format %q: must be docker or oci", format)
			}
			out := cmd.OutOrStdout()
			if output == "" && isTerminal(out) {
				return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			q := url.Values{"ref": args}
			if format != "" {
				q.Set("format", format)
			}
			body, err := c.Stream(cmd.Context(), "GET", "/images/save", q, nil)
			if err != nil {
				return err
			}
			defer body.Close()
			if output == "" {
				_, err = io.Copy(out, body)
				return err
			}
			return writeFileAtomic(output, body)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	cmd.Flags().StringVar(&format, "format", "", "Archive layout: docker (default) or oci (wharf extension)")
	return cmd
}

// writeFileAtomic writes r to path through a temporary file in the same
// directory, so that a failed save never leaves a truncated archive. The
// archive is not fsynced: like docker save's, it is output that can be
// made again, and an fsync would make every large save wait for the disk.
func writeFileAtomic(path string, r io.Reader) error {
	dir, base := filepath.Split(path)
	tmp, err := atomicfile.CreateTemp(dir, base)
	if err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	defer tmp.Abort()
	if _, err := io.Copy(tmp, r); err != nil {
		return err
	}
	return tmp.Commit(path, 0o644, atomicfile.NoSync())
}

// newLoadCommand is `wharf load`.
func newLoadCommand() *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var in io.Reader = cmd.InOrStdin()
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			} else if isTerminal(in) {
				return errors.New("requested load from stdin, but stdin is empty")
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			// The daemon streams a line per loaded image and ends with
			// the error if the load failed, as dockerd does; images
			// loaded before the failure are still named.
			body, err := c.Stream(cmd.Context(), "POST", "/images/load", nil, in)
			if err != nil {
				return err
			}
			defer body.Close()
			dec := json.NewDecoder(body)
			for {
				var m wharf.ProgressMessage
				if err := dec.Decode(&m); err != nil {
					if errors.Is(err, io.EOF) {
						return nil
					}
					return fmt.Errorf("reading the load's output: %v", err)
				}
				if m.Error != "" {
					return errors.New(m.Error)
				}
				if m.Status != "" {
					fmt.Fprintln(cmd.OutOrStdout(), m.Status)
				}
			}
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

// newHistoryCommand is `wharf image history`.
func newHistoryCommand() *cobra.Command {
	var noTrunc, quiet bool
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var hist []wharf.ImageHistory
			if err := c.Do(cmd.Context(), "GET", "/images/history", url.Values{"ref": {args[0]}}, nil, &hist); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			tw := newTabWriter(out)
			if !quiet {
				fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
			}
			now := time.Now()
			for _, h := range hist {
				id := h.ID
				if id == "" {
					id = "<missing>"
				} else if !noTrunc {
					id = shortID(id)
				}
				if quiet {
					fmt.Fprintln(tw, id)
					continue
				}
				by := strings.Join(strings.Fields(h.CreatedBy), " ")
				if !noTrunc {
					by = ellipsis(by, 45)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, humanAgo(time.Unix(h.Created, 0), now), by, humanSize(h.Size), h.Comment)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	return cmd
}

// newImagePruneCommand is `wharf image prune`.
func newImagePruneCommand() *cobra.Command {
	var all, force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			warning := "WARNING! This will remove all dangling images."
			if all {
				warning = "WARNING! This will remove all images without at least one container associated to them."
			}
			if !force && !confirm(cmd, warning) {
				return nil
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var rep wharf.ImagePruneReport
			if err := c.Do(cmd.Context(), "POST", "/images/prune", query("all", boolParam(all)), nil, &rep); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(rep.ImagesDeleted) > 0 {
				fmt.Fprintln(out, "Deleted Images:")
				printDeleteItems(out, rep.ImagesDeleted)
				fmt.Fprintln(out)
			}
			fmt.Fprintln(out, "Total reclaimed space: "+humanSize(int64(rep.SpaceReclaimed)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}
