package signature_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"snodo/pkg/signature"
)

// A hub verifies what it receives against the folder of trusted CAs and maps a failure
// to the SdI code it carries. Here the official CAdES sample is checked for integrity
// only, as its Sogei test CA is not at hand.
func ExampleVerifier_Verify() {
	data, err := os.ReadFile("../../testdata/signature/samples/IT01234567890_11111.xml.p7m")
	if err != nil {
		panic(err)
	}
	v := &signature.Verifier{IntegrityOnly: true} // production: Trust: signature.LoadTrustStore("/etc/snodo/ca")
	res, err := v.Verify("IT01234567890_11111.xml.p7m", data)
	switch {
	case errors.Is(err, signature.ErrMalformed):
		fmt.Println("scarto 00106:", err)
	case err != nil:
		fmt.Println("scarto", signature.CodeOf(err)+":", err)
	default:
		fmt.Println(res.Format, res.Algorithm, res.SigningTime.Format(time.RFC3339), len(res.Content), "byte")
		fmt.Println(res.Signer.Subject.CommonName, res.CertificateBound)
	}

	// The same file with one byte of the invoice changed.
	tampered := append([]byte{}, data...)
	tampered[2000] ^= 1
	_, err = v.Verify("IT01234567890_11111.xml.p7m", tampered)
	fmt.Println(signature.CodeOf(err), errors.Is(err, signature.ErrContentAltered))
	// Output:
	// CAdES RSA-SHA256 2014-02-06T09:38:42Z 4498 byte
	// Giordano Bigarelli true
	// 00102 true
}
