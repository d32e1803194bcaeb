// Package e2e holds end-to-end tests that build the real hub and agent binaries and run them
// as processes on loopback against real HTTP and TCP targets. It has no production code.
package e2e
