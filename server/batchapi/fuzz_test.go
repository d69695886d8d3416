package batchapi

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/wharf-dev/wharf/batch"
)

// FuzzDecodeSubmit feeds SubmitJob bodies to the decoder and the
// translation to the model: no input panics, and what is accepted has a
// valid array size, timeout and retry strategy or is refused later by
// the manager's validation.
func FuzzDecodeSubmit(f *testing.F) {
	for _, s := range []string{
		`{"jobName":"a","jobQueue":"q","jobDefinition":"d","arrayProperties":{"size":100}}`,
		`{"jobName":"a","jobQueue":"q","jobDefinition":"d:1","dependsOn":[{"jobId":"x","type":"N_TO_N"}],"timeout":{"attemptDurationSeconds":0}}`,
		`{"containerOverrides":{"resourceRequirements":[{"type":"VCPU","value":"NaN"},{"type":"MEMORY","value":"-1"}]}}`,
		`{"containerOverrides":{"resourceRequirements":[{"type":"GPU","value":"1"}]}}`,
		`{"retryStrategy":{"attempts":11,"evaluateOnExit":[{"onExitCode":"3*4","action":"retry"}]}}`,
		`{"arrayProperties":{"size":-5}}`, `[]`, `{"parameters":{"a":"Ref::a"}}`, `{"nodeOverrides":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in submitIn
		if decode(body, &in) != nil {
			return
		}
		sub, err := in.submit()
		if err != nil {
			return
		}
		if sub.Overrides != nil && (sub.Overrides.VCPUs < 0 || sub.Overrides.MemoryMiB < 0) {
			t.Fatalf("negative resources accepted: %+v", sub.Overrides)
		}
		if in.ArrayProperties != nil && sub.ArraySize == 0 {
			t.Fatal("an array of size 0 accepted")
		}
		_ = batch.ValidateRetry(sub.RetryStrategy)
		_ = batch.ValidateTimeout(sub.TimeoutSeconds, batch.MinTimeout)
	})
}

// FuzzDecodeRegister feeds RegisterJobDefinition bodies to the decoder
// and the model's validation: no input panics, and mount points, volumes
// and secrets are always refused.
func FuzzDecodeRegister(f *testing.F) {
	for _, s := range []string{
		`{"jobDefinitionName":"d","type":"container","containerProperties":{"image":"busybox","resourceRequirements":[{"type":"VCPU","value":"0.25"},{"type":"MEMORY","value":"512"}]}}`,
		`{"jobDefinitionName":"d","type":"container","containerProperties":{"image":"b","mountPoints":[{}],"vcpus":1,"memory":4}}`,
		`{"jobDefinitionName":"d","type":"multinode","nodeProperties":{}}`,
		`{"jobDefinitionName":"d","type":"container","timeout":{},"containerProperties":{"image":"b","vcpus":1,"memory":4}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in registerIn
		if decode(body, &in) != nil {
			return
		}
		d, err := in.definition()
		if err != nil {
			return
		}
		cp := in.ContainerProperties
		if len(cp.MountPoints) > 0 || len(cp.Volumes) > 0 || len(cp.Secrets) > 0 {
			t.Fatal("mount points, volumes or secrets accepted")
		}
		if batch.ValidateDefinition(&d, batch.MinTimeout) == nil {
			if d.Container.VCPUs <= 0 || d.Container.MemoryMiB < 4 || d.Container.Image == "" {
				t.Fatalf("an invalid definition validated: %+v", d.Container)
			}
			if _, err := json.Marshal(d); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzTagsPath feeds /v1/tags/ paths to the ARN parsing.
func FuzzTagsPath(f *testing.F) {
	for _, s := range []string{"arn%3Aaws%3Abatch%3Aus-east-1%3A000000000000%3Ajob-queue%2Fq", "arn:aws:batch:::job/", "%zz", "arn:aws:ecs:x:y:z/w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		arn, err := url.PathUnescape(raw)
		if err != nil {
			return
		}
		if kind, name, ok := parseARN(arn); ok && (kind == "" || name == "") {
			t.Fatalf("parseARN(%q) = %q, %q", arn, kind, name)
		}
	})
}
