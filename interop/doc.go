// Package interop drives lingpai with client libraries nobody on the project wrote: node's
// oauth4webapi (interop/node, pinned in its package-lock.json) and Python's Authlib (Debian's
// python3-authlib, interop/python), besides the Go clients the server tests use. The Go test
// starts lingpai, runs each script, and plays the user's browser for it over a line protocol
// on the script's stdin/stdout:
//
//	script: AUTHORIZE <url>   → driver: the callback URL the authorize request ends at
//	script: LOGOUT <url>      → driver: where the end-session request sends the browser
//	script: SMSCODE <phone>   → driver: the code the fake SMS gateway received
//	script: RESULT <flow> ok | RESULT <flow> FAIL <why>
package interop
