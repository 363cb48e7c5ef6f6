{{/* The prefix of every object name: the release name unless overridden, cut to the 63
     characters a DNS label allows (leaving room for suffixes is the caller's job). */}}
{{- define "mdp.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* A component's object name, e.g. mdp-minio. */}}
{{- define "mdp.componentName" -}}
{{- printf "%s-%s" (include "mdp.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels to select a component's pods; stable across upgrades (selectors are immutable). */}}
{{- define "mdp.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* The recommended app.kubernetes.io set plus the component, merged with commonLabels. */}}
{{- define "mdp.labels" -}}
{{ include "mdp.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: mini-data-platform
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* An image reference from an images.<name> block. */}}
{{- define "mdp.image" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/* A step image (validator, transformer, loader, generator) from images.steps. */}}
{{- define "mdp.stepImage" -}}
{{- printf "%s/%s:%s" .root.Values.images.steps.repository .name .root.Values.images.steps.tag -}}
{{- end -}}

{{/* imagePullSecrets, when any are set. */}}
{{- define "mdp.pullSecrets" -}}
{{- with .Values.images.pullSecrets }}
imagePullSecrets:
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod security context shared by every pod: non-root numeric user, RuntimeDefault seccomp. */}}
{{- define "mdp.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 10001 }}
runAsGroup: {{ .uid | default 10001 }}
fsGroup: {{ .uid | default 10001 }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container security context shared by every container. */}}
{{- define "mdp.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}

{{/* A login's Secret name: secrets.existing.<key> wins over <fullname>-<suffix>.
     Args: root, key (e.g. postgresPipeline), suffix (e.g. postgres-pipeline). */}}
{{- define "mdp.secretName" -}}
{{- $existing := index .root.Values.secrets.existing .key -}}
{{- default (printf "%s-%s" (include "mdp.fullname" .root) .suffix) $existing -}}
{{- end -}}

{{/* A generated secret value that survives `helm upgrade`: the value already in the cluster's
     Secret when there is one (lookup), a new random one on first install. `helm template` has
     no cluster, so it always generates. Returns it base64-encoded, as Secret data.
     Args: root, secret (name), key, and either length (random alphanumerics) or generated (a
     new value of another form, already base64-encoded, e.g. a Fernet key). */}}
{{- define "mdp.secretValue" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- if and $existing (hasKey $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else if .generated -}}
{{- .generated -}}
{{- else -}}
{{- randAlphaNum (.length | default 32) | b64enc -}}
{{- end -}}
{{- end -}}

{{/* Service host names. */}}
{{- define "mdp.minio.host" -}}
{{- printf "%s.%s.svc.cluster.local" (include "mdp.componentName" (dict "root" . "component" "minio")) .Release.Namespace -}}
{{- end -}}
{{- define "mdp.postgres.host" -}}
{{- printf "%s.%s.svc.cluster.local" (include "mdp.componentName" (dict "root" . "component" "postgresql")) .Release.Namespace -}}
{{- end -}}

{{/* The chart's contracts ConfigMap, e.g. mdp-contracts (the DAGs' MDP_CONTRACTS_CONFIGMAP). */}}
{{- define "mdp.contracts.configMapName" -}}
{{- include "mdp.componentName" (dict "root" . "component" "contracts") -}}
{{- end -}}

{{/* The contract files as ConfigMap data: every built-in contracts/*.yaml byte for byte, then
     contracts.files (<name> -> <name>.yaml). One helper, so the ConfigMap and the checksum
     annotations of the pods that mount it cannot disagree. */}}
{{- define "mdp.contracts.data" -}}
{{- $data := dict -}}
{{- range $path, $_ := .Files.Glob "contracts/*.yaml" -}}
{{- $_ := set $data (base $path) ($.Files.Get $path) -}}
{{- end -}}
{{- range $name, $text := .Values.contracts.files -}}
{{- $_ := set $data (printf "%s.yaml" $name) $text -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/* Pod annotation: a hash of the contracts (and the name of contracts.existingConfigMap), so a
     changed contract shows up as a changed pod template wherever the contracts are mounted. */}}
{{- define "mdp.contracts.checksum" -}}
checksum/contracts: {{ printf "%s\n%s" (include "mdp.contracts.data" .) .Values.contracts.existingConfigMap | sha256sum }}
{{- end -}}

{{/* The contracts volume: the chart's ConfigMap, and contracts.existingConfigMap projected next
     to it (one directory; file names must differ). Read-only for everyone (mode 0444). */}}
{{- define "mdp.contracts.volume" -}}
- name: contracts
  projected:
    defaultMode: 0444
    sources:
      - configMap: {name: {{ include "mdp.contracts.configMapName" . }}}
      {{- with .Values.contracts.existingConfigMap }}
      - configMap: {name: {{ . }}}
      {{- end }}
{{- end -}}

{{/* Where the contracts are mounted, and the variable that tells `mdp` so (COMMON: CONTRACTS__DIR). */}}
{{- define "mdp.contracts.mountPath" -}}
/etc/mdp/contracts
{{- end -}}
{{- define "mdp.contracts.volumeMount" -}}
- {name: contracts, mountPath: {{ include "mdp.contracts.mountPath" . }}, readOnly: true}
{{- end -}}
{{- define "mdp.contracts.env" -}}
- {name: CONTRACTS__DIR, value: {{ include "mdp.contracts.mountPath" . }}}
{{- end -}}

{{/* The alert rules (files/alerts.yaml, the one source) as YAML: the `groups:` of a rules file,
     which is also the spec of a PrometheusRule. */}}
{{- define "mdp.monitoring.alertRules" -}}
{{- .Files.Get "files/alerts.yaml" | fromYaml | toYaml -}}
{{- end -}}
