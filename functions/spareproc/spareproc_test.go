package spareproc

import (
	"reflect"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"PATH=/bin", "HOME=/", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"},
		[]string{"HOME=/home/sbx", "AWS_LAMBDA_FUNCTION_NAME=f", "EMPTY="})
	want := []string{"PATH=/bin", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001", "HOME=/home/sbx", "AWS_LAMBDA_FUNCTION_NAME=f", "EMPTY="}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("MergeEnv = %q, want %q", got, want)
	}
}
