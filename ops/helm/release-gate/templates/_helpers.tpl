{{/* Names and labels. */}}
{{- define "release-gate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "release-gate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "release-gate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "release-gate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "release-gate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "release-gate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: gate
app.kubernetes.io/part-of: release-gate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "release-gate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "release-gate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "release-gate.credentialsSecret" -}}
{{- default (printf "%s-credentials" (include "release-gate.fullname" .)) .Values.credentials.secretName -}}
{{- end -}}

{{- define "release-gate.governanceConfigMap" -}}
{{- default (printf "%s-governance" (include "release-gate.fullname" .)) .Values.governance.existingConfigMap -}}
{{- end -}}

{{- define "release-gate.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" .Values.image.digest) -}}
{{- fail (printf "image.digest must be sha256:<64 hex digits>, not %q" .Values.image.digest) -}}
{{- end -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Kafka over TLS (SSL, SASL_SSL) and over SASL (SASL_PLAINTEXT, SASL_SSL). */}}
{{- define "release-gate.kafkaTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") -}}true{{- end -}}
{{- end -}}
{{- define "release-gate.kafkaSasl" -}}
{{- if has .Values.kafka.securityProtocol (list "SASL_PLAINTEXT" "SASL_SSL") -}}true{{- end -}}
{{- end -}}

{{/* Values the service would refuse, or a layout that would defeat its purpose: fail. */}}
{{- define "release-gate.checks" -}}
{{- if not (has .Values.kind (list "StatefulSet" "Deployment")) -}}
{{- fail (printf "kind must be StatefulSet or Deployment, not %q" .Values.kind) -}}
{{- end -}}
{{- if not (has .Values.kafka.securityProtocol (list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL")) -}}
{{- fail (printf "kafka.securityProtocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, not %q" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- if not (has .Values.kafka.saslMechanism (list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512")) -}}
{{- fail (printf "kafka.saslMechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not %q" .Values.kafka.saslMechanism) -}}
{{- end -}}
{{- if gt (int .Values.replicas) (int .Values.topics.partitions) -}}
{{- fail (printf "replicas (%d) exceeds topics.partitions (%d): a member beyond the partition count is assigned nothing and sits idle" (int .Values.replicas) (int .Values.topics.partitions)) -}}
{{- end -}}
{{- if gt (add (int .Values.shutdownGraceSeconds) 10) (int .Values.terminationGracePeriodSeconds) -}}
{{- fail (printf "shutdownGraceSeconds (%d) + 10 s exceeds terminationGracePeriodSeconds (%d): the kubelet would kill the pod mid-drain" (int .Values.shutdownGraceSeconds) (int .Values.terminationGracePeriodSeconds)) -}}
{{- end -}}
{{- if lt (int .Values.probes.readiness.timeoutSeconds) 5 -}}
{{- fail "probes.readiness.timeoutSeconds must be at least 5: /readyz pings the store, then Kafka, with a 2 s timeout each" -}}
{{- end -}}
{{- if and (include "release-gate.kafkaSasl" .) (not .Values.kafka.saslUsername) -}}
{{- fail "kafka.saslUsername is required with a SASL_* securityProtocol" -}}
{{- end -}}
{{- if and (include "release-gate.kafkaSasl" .) (not .Values.credentials.keys.kafkaSaslPassword) -}}
{{- fail "credentials.keys.kafkaSaslPassword is required with a SASL_* securityProtocol" -}}
{{- end -}}
{{- if not (and .Values.gateKey.secretName .Values.gateKey.key) -}}
{{- fail "gateKey.secretName and gateKey.key are required: the gate signs every release attestation and does not start without its key" -}}
{{- end -}}
{{- if and .Values.kafka.tls.clientCertificate (not (include "release-gate.kafkaTls" .)) -}}
{{- fail "kafka.tls.clientCertificate needs securityProtocol SSL or SASL_SSL" -}}
{{- end -}}
{{- end -}}
