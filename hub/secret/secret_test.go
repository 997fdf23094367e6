package secret

import "testing"

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPasswordWith("s3cret!", Params{Memory: 1024, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := CheckPassword(h, "s3cret!"); !ok || err != nil {
		t.Fatalf("right password: ok=%v err=%v", ok, err)
	}
	if ok, _ := CheckPassword(h, "wrong"); ok {
		t.Fatal("wrong password accepted")
	}
	if _, err := CheckPassword("$2a$10$abc", "x"); err != ErrMalformed {
		t.Fatalf("malformed hash: %v", err)
	}
}
