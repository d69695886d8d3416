package smapi

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

// The aws SDK's secretsmanager client creates, reads (by name and by
// ARN), describes, lists and deletes the cluster's secrets; errors are
// Secrets Manager's; a key whose policy does not allow an action is
// refused.
func TestSecretsManagerWithTheSDK(t *testing.T) {
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	st, err := state.New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := secrets.NewRawKey()
	key, _ := secrets.NewKey(raw)
	keys, err := identity.OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := keys.Create(identity.AdminStatement)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := keys.Create(identity.Statement{Service: "secretsmanager", Actions: []string{"DescribeSecret", "ListSecrets"}, Resource: "*"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(secrets.New(st, key), keys))
	defer srv.Close()
	client := func(k identity.Key) *secretsmanager.Client {
		return secretsmanager.New(secretsmanager.Options{BaseEndpoint: aws.String(srv.URL), Region: "us-east-1", Retryer: aws.NopRetryer{},
			Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
	}
	sm := client(admin)
	ctx := context.Background()
	c, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db_pass"), SecretString: aws.String("hunter2")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(c.ARN) != "arn:aws:secretsmanager:us-east-1:000000000000:secret:db_pass" {
		t.Fatalf("arn: %s", aws.ToString(c.ARN))
	}
	var exists *smtypes.ResourceExistsException
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db_pass"), SecretString: aws.String("x")}); !errors.As(err, &exists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: []byte{0xff, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"db_pass", aws.ToString(c.ARN)} {
		v, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil || aws.ToString(v.SecretString) != "hunter2" || aws.ToString(v.Name) != "db_pass" {
			t.Fatalf("get %s: %+v %v", id, v, err)
		}
	}
	if v, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")}); err != nil || string(v.SecretBinary) != "\xff\x00\x01" {
		t.Fatalf("binary: %+v %v", v, err)
	}
	var nf *smtypes.ResourceNotFoundException
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")}); !errors.As(err, &nf) {
		t.Fatalf("unknown: %v", err)
	}
	l, err := client(reader).ListSecrets(ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(1)})
	if err != nil || len(l.SecretList) != 1 || aws.ToString(l.SecretList[0].Name) != "bin" || l.NextToken == nil {
		t.Fatalf("list: %+v %v", l, err)
	}
	if _, err := client(reader).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db_pass")}); err == nil {
		t.Fatal("a key without GetSecretValue read a value")
	}
	if d, err := client(reader).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db_pass")}); err != nil || aws.ToString(d.Name) != "db_pass" {
		t.Fatalf("describe: %+v %v", d, err)
	}
	if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db_pass"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db_pass")}); !errors.As(err, &nf) {
		t.Fatalf("after delete: %v", err)
	}
}
