package lifecycle

import (
	"testing"
	"time"
)

// FuzzParse: any text a key can send as a lifecycle policy either fails
// validation or parses into a policy that evaluates without panicking and
// expires only images it was given, each at most once.
func FuzzParse(f *testing.F) {
	f.Add(`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`)
	f.Add(`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["*a*b*c*d"],"countType":"sinceImagePushed","countUnit":"days","countNumber":9223372036854775807},"action":{"type":"expire"}}]}`)
	images := []Image{
		{Digest: "a", Tags: []string{"prod-1"}, Pushed: now.Add(-48 * time.Hour)},
		{Digest: "b", Pushed: now.Add(-time.Hour)},
		{Digest: "c", Tags: []string{"x", "[y]"}, Pushed: now},
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Parse(text)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, e := range Evaluate(p, images, now) {
			if seen[e.Image.Digest] {
				t.Fatalf("%s expired twice", e.Image.Digest)
			}
			seen[e.Image.Digest] = true
		}
	})
}
