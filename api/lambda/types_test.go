package lambda

import (
	"encoding/json"
	"testing"
)

// TestWireJSON pins the JSON of every wire type, byte for byte, to what the
// server and the client sent before they shared these types (the server's
// own structs for answers, the client's for requests): the Lambda shapes
// that the aws CLI, the SDKs and scripts parse must not drift.
func TestWireJSON(t *testing.T) {
	n, i, s := int32(5), int32(7), "x"
	next := "50"
	full := FunctionConfiguration{FunctionName: "f", FunctionArn: "arn", Runtime: "provided", Role: "r", Handler: "h", CodeSize: 12, Description: "d",
		Timeout: 3, MemorySize: 128, LastModified: "2026", CodeSha256: "sha", Version: "$LATEST", Environment: &Environment{Variables: map[string]string{"A": "1"}},
		TracingConfig: TracingConfig{Mode: "PassThrough"}, RevisionID: "rev", State: "Active", StateReason: "sr", StateReasonCode: "src", LastUpdateStatus: "Successful",
		PackageType: "Zip", Architectures: []string{"x86_64"}, EphemeralStorage: &EphemeralStorage{Size: 512},
		ImageConfigResponse: &ImageConfigResponse{ImageConfig: &ImageConfig{EntryPoint: []string{"e"}, Command: []string{"c"}, WorkingDirectory: "/w"}}}
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		// Answers (server/lambdaapi).
		{"FunctionConfiguration", full, `{"FunctionName":"f","FunctionArn":"arn","Runtime":"provided","Role":"r","Handler":"h","CodeSize":12,"Description":"d","Timeout":3,"MemorySize":128,"LastModified":"2026","CodeSha256":"sha","Version":"$LATEST","Environment":{"Variables":{"A":"1"}},"TracingConfig":{"Mode":"PassThrough"},"RevisionId":"rev","State":"Active","StateReason":"sr","StateReasonCode":"src","LastUpdateStatus":"Successful","PackageType":"Zip","Architectures":["x86_64"],"EphemeralStorage":{"Size":512},"ImageConfigResponse":{"ImageConfig":{"EntryPoint":["e"],"Command":["c"],"WorkingDirectory":"/w"}}}`},
		{"FunctionConfiguration zero", FunctionConfiguration{}, `{"FunctionName":"","FunctionArn":"","Role":"","CodeSize":0,"Description":"","Timeout":0,"MemorySize":0,"LastModified":"","CodeSha256":"","Version":"","TracingConfig":{"Mode":""},"RevisionId":"","PackageType":"","Architectures":null}`},
		{"GetFunctionOutput", GetFunctionOutput{Configuration: full, Code: FunctionCodeLocation{RepositoryType: "ECR", Location: "l", ImageURI: "i", ResolvedImageURI: "ri"},
			Concurrency: &Concurrency{ReservedConcurrentExecutions: &n}, Tags: map[string]string{"t": "v"}}, `{"Configuration":{"FunctionName":"f","FunctionArn":"arn","Runtime":"provided","Role":"r","Handler":"h","CodeSize":12,"Description":"d","Timeout":3,"MemorySize":128,"LastModified":"2026","CodeSha256":"sha","Version":"$LATEST","Environment":{"Variables":{"A":"1"}},"TracingConfig":{"Mode":"PassThrough"},"RevisionId":"rev","State":"Active","StateReason":"sr","StateReasonCode":"src","LastUpdateStatus":"Successful","PackageType":"Zip","Architectures":["x86_64"],"EphemeralStorage":{"Size":512},"ImageConfigResponse":{"ImageConfig":{"EntryPoint":["e"],"Command":["c"],"WorkingDirectory":"/w"}}},"Code":{"RepositoryType":"ECR","Location":"l","ImageUri":"i","ResolvedImageUri":"ri"},"Concurrency":{"ReservedConcurrentExecutions":5},"Tags":{"t":"v"}}`},
		{"GetFunctionOutput zero", GetFunctionOutput{}, `{"Configuration":{"FunctionName":"","FunctionArn":"","Role":"","CodeSize":0,"Description":"","Timeout":0,"MemorySize":0,"LastModified":"","CodeSha256":"","Version":"","TracingConfig":{"Mode":""},"RevisionId":"","PackageType":"","Architectures":null},"Code":{"RepositoryType":""}}`},
		{"ListFunctionsOutput", ListFunctionsOutput{Functions: []FunctionConfiguration{{}}, NextMarker: &next}, `{"Functions":[{"FunctionName":"","FunctionArn":"","Role":"","CodeSize":0,"Description":"","Timeout":0,"MemorySize":0,"LastModified":"","CodeSha256":"","Version":"","TracingConfig":{"Mode":""},"RevisionId":"","PackageType":"","Architectures":null}],"NextMarker":"50"}`},
		{"ListFunctionsOutput zero", ListFunctionsOutput{}, `{"Functions":null}`},
		{"ListVersionsByFunctionOutput", ListVersionsByFunctionOutput{Versions: []FunctionConfiguration{{}}, NextMarker: &next}, `{"Versions":[{"FunctionName":"","FunctionArn":"","Role":"","CodeSize":0,"Description":"","Timeout":0,"MemorySize":0,"LastModified":"","CodeSha256":"","Version":"","TracingConfig":{"Mode":""},"RevisionId":"","PackageType":"","Architectures":null}],"NextMarker":"50"}`},
		{"ListVersionsByFunctionOutput zero", ListVersionsByFunctionOutput{}, `{"Versions":null}`},
		{"AliasConfiguration", AliasConfiguration{AliasArn: "a", Name: "n", FunctionVersion: "1", Description: "d", RevisionID: "r"}, `{"AliasArn":"a","Name":"n","FunctionVersion":"1","Description":"d","RevisionId":"r"}`},
		{"ListAliasesOutput", ListAliasesOutput{Aliases: []AliasConfiguration{{}}, NextMarker: &next}, `{"Aliases":[{"AliasArn":"","Name":"","FunctionVersion":"","Description":"","RevisionId":""}],"NextMarker":"50"}`},
		{"ListAliasesOutput zero", ListAliasesOutput{}, `{"Aliases":null}`},
		{"Concurrency", Concurrency{ReservedConcurrentExecutions: &n}, `{"ReservedConcurrentExecutions":5}`},
		{"Concurrency zero", Concurrency{}, `{}`},
		// Requests (the client).
		{"CreateFunctionInput", CreateFunctionInput{FunctionName: "f", Role: "r", Runtime: "rt", Handler: "h", Description: "d", Timeout: &i, MemorySize: &i, Publish: true, PackageType: "Zip",
			Code: FunctionCode{ZipFile: []byte("zip"), ImageURI: "img"}, ImageConfig: &ImageConfig{Command: []string{"c"}}, Environment: &Environment{Variables: map[string]string{"A": "1"}},
			EphemeralStorage: &EphemeralStorage{Size: 600}}, `{"FunctionName":"f","Role":"r","Runtime":"rt","Handler":"h","Description":"d","Timeout":7,"MemorySize":7,"Publish":true,"PackageType":"Zip","Code":{"ZipFile":"emlw","ImageUri":"img"},"ImageConfig":{"Command":["c"]},"Environment":{"Variables":{"A":"1"}},"EphemeralStorage":{"Size":600}}`},
		{"CreateFunctionInput zero", CreateFunctionInput{}, `{"FunctionName":"","Role":"","Publish":false,"Code":{}}`},
		{"UpdateFunctionConfigurationInput", UpdateFunctionConfigurationInput{FunctionName: "f", Role: &s, Handler: &s, Description: &s, Runtime: &s, Timeout: &i, MemorySize: &i,
			Environment: &Environment{}, EphemeralStorage: &EphemeralStorage{Size: 1}, ImageConfig: &ImageConfig{}}, `{"Role":"x","Handler":"x","Description":"x","Runtime":"x","Timeout":7,"MemorySize":7,"Environment":{"Variables":null},"EphemeralStorage":{"Size":1},"ImageConfig":{}}`},
		{"UpdateFunctionConfigurationInput zero", UpdateFunctionConfigurationInput{FunctionName: "f"}, `{}`},
		{"UpdateFunctionCodeInput", UpdateFunctionCodeInput{FunctionName: "f", ZipFile: []byte("z"), ImageURI: "i", Publish: true}, `{"ZipFile":"eg==","ImageUri":"i","Publish":true}`},
		{"UpdateFunctionCodeInput zero", UpdateFunctionCodeInput{FunctionName: "f"}, `{"Publish":false}`},
		{"AliasInput", AliasInput{FunctionName: "f", Name: "n", FunctionVersion: "1", Description: "d"}, `{"Name":"n","FunctionVersion":"1","Description":"d"}`},
		{"AliasInput zero", AliasInput{FunctionName: "f"}, `{}`},
		{"PublishVersionInput", PublishVersionInput{FunctionName: "f", Description: "d"}, `{"Description":"d"}`},
		{"Concurrency request", Concurrency{ReservedConcurrentExecutions: &i}, `{"ReservedConcurrentExecutions":7}`},
	} {
		got, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
