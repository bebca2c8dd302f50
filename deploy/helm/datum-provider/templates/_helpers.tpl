{{/* Labels on every object: the kustomize base's selector label plus Helm's standard ones. */}}
{{- define "datum-provider.labels" -}}
app.kubernetes.io/name: datum-provider
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The RBAC files of deploy/rbac (copied into files/rbac by scripts/sync-chart.ts; a test fails on drift),
moved into the release namespace and the configured Lease name.
*/}}
{{- define "datum-provider.rbacFile" -}}
{{- $root := index . 0 -}}
{{- $file := index . 1 -}}
{{- $root.Files.Get $file | replace "namespace: datum-provider-system" (printf "namespace: %s" $root.Release.Namespace) | replace "[datum-provider-ts-leader]" (printf "[%s]" $root.Values.leaderElection.name) -}}
{{- end -}}
