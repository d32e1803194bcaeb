package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// HealthURL is the URL of /health on the local API that listen (the config's `listen`) serves,
// as seen from the same host: an unspecified host (0.0.0.0, ::, or none) is reached on loopback.
func HealthURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen %q: %w", listen, err)
	}
	if port == "0" {
		return "", fmt.Errorf("listen %q: port 0 is picked at start, so there is no fixed address to probe", listen)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/health", nil
}

// HealthCheck GETs the local API's /health at listen and returns nil when it answers 200 (an
// agent that serves its API is alive, whatever its checks say), with the first line of the
// answer for the caller to print. It is the container image's HEALTHCHECK: the image has no
// shell and no curl. ctx bounds the request.
func HealthCheck(ctx context.Context, listen string) (string, error) {
	url, err := HealthURL(listen)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	tr := &http.Transport{DisableKeepAlives: true} // no proxy from the environment: this host only
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	line := fmt.Sprintf("GET %s: %s %s", url, res.Status, strings.TrimSpace(string(body)))
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s", line)
	}
	return line, nil
}
