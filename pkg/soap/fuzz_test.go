package soap

import (
	"encoding/xml"
	"testing"
)

// FuzzParse feeds arbitrary content types and bodies to the envelope and MTOM parsers
// and decodes the payload: errors are fine, panics and hangs are not.
func FuzzParse(f *testing.F) {
	f.Add("text/xml", env11(goodUpload))
	f.Add("application/soap+xml", []byte(`<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>`+goodUpload+`</e:Body></e:Envelope>`))
	ct, body, _ := Marshal(V11, &upload{NomeFile: "a", File: []byte("hello")}, true)
	f.Add(ct, body)
	f.Add("text/xml", marshalFault(V11, ClientFault("x")))
	f.Add("text/xml", marshalFault(V12, ServerFault("y")))
	f.Add(`multipart/related; boundary="b"; start="<r>"`, []byte("--b\r\nContent-ID: <r>\r\n\r\n"+string(env11(goodUpload))+"\r\n--b--"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		m, err := Parse("fuzz", ct, body)
		if err != nil {
			return
		}
		var v struct {
			XMLName  xml.Name
			NomeFile string `xml:"NomeFile"`
			File     Binary `xml:"File"`
		}
		_ = m.Decode(&v)
	})
}
