package wharf

import "time"

// AccessKey is an access key of wharf's AWS-shaped APIs as the native API
// answers it (`wharf keys`): with its secret once, when created; without
// it when listed. Policies are its statements as `wharf keys create
// --policy` writes them (none: the default policy).
//
//	POST   /keys  CreateKeyRequest  create a key → 201 AccessKey (with SecretAccessKey)
//	GET    /keys                    list keys    → 200 [AccessKey]
//	DELETE /keys/{id}               revoke a key → 204
type AccessKey struct {
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey,omitempty"`
	Created         time.Time `json:"Created,omitzero"`
	Policies        []string  `json:"Policies,omitempty"`
}

// CreateKeyRequest is the body of POST /keys (optional: no body is a key
// with the default policy). Admin adds the statement that allows
// everything ("*:*:*").
type CreateKeyRequest struct {
	Admin    bool     `json:"Admin,omitempty"`
	Policies []string `json:"Policies,omitempty"`
}
