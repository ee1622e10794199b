package filename

import "fmt"

// The progressive of an invoice file name is 1 to 5 letters or digits, and each name
// must be unique over time for its transmitter (00002 "Nome file duplicato"). The hub
// keeps one integer counter per transmitter in its store and turns it into a
// progressive with Progressivo.
//
// Only digits and capital letters are used: a name that differs from an earlier one
// only in the case of a letter would collide on a case-insensitive file system (an FTP
// drop on Windows, a mail client saving attachments), so 36^5 = 60,466,176 names per
// transmitter, not 62^5. Counters 0 to 99999 give the familiar decimal form ("00042");
// from 100000 on, the progressives containing at least one letter follow in
// increasing order ("0000A", "0000B", ... "ZZZZZ").

const (
	progLen     = 5
	progDigits  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	progBase    = 36
	decimalSpan = 100000 // 10^5 all-digit progressives
)

// ProgressivoSpace is the number of distinct progressives Progressivo can produce.
const ProgressivoSpace = progBase * progBase * progBase * progBase * progBase // 36^5

// ErrProgressivoExhausted is wrapped by Progressivo when the counter is beyond the space.
var ErrProgressivoExhausted = fmt.Errorf("progressivi esauriti per questo trasmittente: %d nomi usati; "+
	"serve un altro identificativo trasmittente (progressives exhausted for this transmitter)", ProgressivoSpace)

// Progressivo encodes a per-transmitter counter (0 <= n < ProgressivoSpace) as a
// 5-character progressive. Distinct counters give distinct progressives.
func Progressivo(n int64) (string, error) {
	if n < 0 || n >= ProgressivoSpace {
		return "", fmt.Errorf("filename: progressivo %d: %w", n, ErrProgressivoExhausted)
	}
	if n < decimalSpan {
		return fmt.Sprintf("%05d", n), nil
	}
	// The m-th (0-based) base-36 string that has at least one letter: the smallest
	// value v with v+1 - allDigitsUpTo(v) == m+1.
	m := n - decimalSpan
	lo, hi := int64(0), int64(ProgressivoSpace-1)
	for lo < hi {
		mid := (lo + hi) / 2
		if mid+1-allDigitsUpTo(mid) >= m+1 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return encode36(lo), nil
}

// ProgressivoCounter is the inverse of Progressivo for the progressives it produces
// (5 characters, digits and capital letters).
func ProgressivoCounter(p string) (int64, error) {
	if len(p) != progLen {
		return 0, fmt.Errorf("filename: progressivo %q: servono %d caratteri (needs %d characters)", p, progLen, progLen)
	}
	var v int64
	letters := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		var d int64
		switch {
		case c >= '0' && c <= '9':
			d = int64(c - '0')
		case c >= 'A' && c <= 'Z':
			d, letters = int64(c-'A')+10, true
		default:
			return 0, fmt.Errorf("filename: progressivo %q: solo cifre e lettere maiuscole (digits and capital letters only)", p)
		}
		v = v*progBase + d
	}
	if !letters {
		var dec int64
		for i := 0; i < len(p); i++ {
			dec = dec*10 + int64(p[i]-'0')
		}
		return dec, nil
	}
	return decimalSpan + v - allDigitsUpTo(v), nil
}

// allDigitsUpTo counts the base-36 5-digit strings <= v whose digits are all 0-9.
func allDigitsUpTo(v int64) int64 {
	var d [progLen]int64
	for i := progLen - 1; i >= 0; i-- {
		d[i] = v % progBase
		v /= progBase
	}
	var count int64
	for i := 0; i < progLen; i++ {
		rest := int64(1)
		for j := i + 1; j < progLen; j++ {
			rest *= 10
		}
		// strings sharing the prefix d[:i], with a smaller decimal digit at i
		count += min(d[i], 10) * rest
		if d[i] >= 10 {
			return count // no all-digit string continues this prefix
		}
	}
	return count + 1 // v itself is all digits
}

func encode36(v int64) string {
	var b [progLen]byte
	for i := progLen - 1; i >= 0; i-- {
		b[i] = progDigits[v%progBase]
		v /= progBase
	}
	return string(b[:])
}
