package syncsvc

import (
	"fmt"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// DeviceJWTs mints per-device NATS user credentials for an external NATS cluster that runs in
// operator (JWT) mode, where the servers, not the hub, enforce what each device may do. The hub
// holds a signing key of the devices' account (deploy/nats/DEVICES.md); each enrolled device gets
// its own user key pair and a user JWT named after the device and allowed exactly the subjects of
// jetstream.DevicePermissions. With the embedded server the hub's Authenticator does this job
// instead, and DeviceJWTs is nil.
type DeviceJWTs struct {
	signer  nkeys.KeyPair
	signPub string
	account string // the account's public key
}

// NewDeviceJWTs reads an account signing key seed (SA…) and the account's public key (A…). The
// account may be left empty when the seed is the account's own key.
func NewDeviceJWTs(signingSeed, account string) (*DeviceJWTs, error) {
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(signingSeed)))
	if err != nil {
		return nil, fmt.Errorf("the NATS account signing seed is not an nkey seed: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, err
	}
	if !nkeys.IsValidPublicAccountKey(pub) {
		return nil, fmt.Errorf("the NATS signing seed must be an account key (a seed starting with SA), not %c…", pub[0])
	}
	account = strings.TrimSpace(account)
	if account == "" {
		account = pub
	}
	if !nkeys.IsValidPublicAccountKey(account) {
		return nil, fmt.Errorf("the NATS account %q is not an account public key (A…)", account)
	}
	return &DeviceJWTs{signer: kp, signPub: pub, account: account}, nil
}

// Mint returns a user JWT and its seed for a device, allowed to publish pub and subscribe to sub
// and nothing else. The device's user public key (returned as well) names it on the servers, for
// the account's revocation list.
func (d *DeviceJWTs) Mint(deviceID string, pub, sub []string) (userJWT, userSeed, userKey string, err error) {
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return "", "", "", err
	}
	upub, err := ukp.PublicKey()
	if err != nil {
		return "", "", "", err
	}
	seed, err := ukp.Seed()
	if err != nil {
		return "", "", "", err
	}
	uc := jwt.NewUserClaims(upub)
	uc.Name = deviceID
	uc.Tags.Add("dmf-device")
	uc.Pub.Allow.Add(pub...)
	uc.Sub.Allow.Add(sub...)
	if d.signPub != d.account {
		uc.IssuerAccount = d.account
	}
	token, err := uc.Encode(d.signer)
	if err != nil {
		return "", "", "", err
	}
	return token, string(seed), upub, nil
}
