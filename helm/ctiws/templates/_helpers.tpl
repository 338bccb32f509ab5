{{/* Chart name, truncated to 63 characters. */}}
{{- define "ctiws.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart unless the release already contains the chart name. */}}
{{- define "ctiws.fullname" -}}
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

{{- define "ctiws.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ctiws.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ctiws.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ctiws.labels" -}}
helm.sh/chart: {{ include "ctiws.chart" . }}
{{ include "ctiws.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ctiws
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ctiws.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ctiws.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ctiws.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Name of the chart-managed Secret with tenant secrets. */}}
{{- define "ctiws.secretName" -}}
{{- default (include "ctiws.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The Secret of the console's users and session key. */}}
{{- define "ctiws.consoleSecretName" -}}
{{- .Values.console.existingSecret | default (printf "%s-console" (include "ctiws.fullname" .)) -}}
{{- end -}}

{{- define "ctiws.redisName" -}}
{{- printf "%s-redis" (include "ctiws.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ctiws.redisURLSecretName" -}}
{{- printf "%s-redis-url" (include "ctiws.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "true" when some Redis is configured. */}}
{{- define "ctiws.hasRedis" -}}
{{- if or .Values.redis.enabled .Values.redis.url .Values.redis.existingSecret (include "ctiws.redisSentinelURL" .) (include "ctiws.redisClusterURL" .) -}}true{{- end -}}
{{- end -}}

{{/*
Converts a Go duration made of integer parts (1h, 1m30s, 500ms, 0s) to whole seconds,
rounding up. Input: the duration string.
*/}}
{{- define "ctiws.durationSeconds" -}}
{{- $d := toString . -}}
{{- $ms := 0 -}}
{{- range regexFindAll "[0-9]+(ms|h|m|s)" $d -1 -}}
{{- $n := regexFind "^[0-9]+" . | atoi -}}
{{- $unit := regexReplaceAll "^[0-9]+" . "" -}}
{{- if eq $unit "h" }}{{ $ms = add $ms (mul $n 3600000) }}
{{- else if eq $unit "m" }}{{ $ms = add $ms (mul $n 60000) }}
{{- else if eq $unit "s" }}{{ $ms = add $ms (mul $n 1000) }}
{{- else }}{{ $ms = add $ms $n }}{{ end -}}
{{- end -}}
{{- div (add $ms 999) 1000 -}}
{{- end -}}

{{/* "sleepAction", "exec" or "" : the preStop hook actually rendered. */}}
{{- define "ctiws.preStopMode" -}}
{{- $m := .Values.lifecycle.preStopMode -}}
{{- if le (int .Values.lifecycle.preStopSleepSeconds) 0 -}}
{{- else if eq $m "auto" -}}
{{- if semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version -}}sleepAction{{- end -}}
{{- else if eq $m "none" -}}
{{- else -}}{{ $m }}
{{- end -}}
{{- end -}}

{{- define "ctiws.preStopSeconds" -}}
{{- if include "ctiws.preStopMode" . -}}{{ int .Values.lifecycle.preStopSleepSeconds }}{{- else -}}0{{- end -}}
{{- end -}}

{{/* terminationGracePeriodSeconds, derived or explicit (validated). */}}
{{- define "ctiws.terminationGracePeriodSeconds" -}}
{{- $min := add (include "ctiws.preStopSeconds" . | atoi) (include "ctiws.durationSeconds" .Values.config.drainTimeout | atoi) -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $min (int .Values.terminationGraceMarginSeconds) -}}
{{- else -}}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $min) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be >= preStop sleep + config.drainTimeout (%d)" (int .Values.terminationGracePeriodSeconds) (int $min)) -}}
{{- end -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* Checks of value combinations the schema cannot express. Included by the Deployment. */}}
{{- define "ctiws.validate" -}}
{{- if and (not (include "ctiws.hasRedis" .)) (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) -}}
{{- fail "more than one ctiws replica needs Redis: set redis.url, redis.existingSecret, redis.sentinel, redis.cluster or redis.enabled=true (or replicaCount=1 and autoscaling.enabled=false)" -}}
{{- end -}}
{{- if and (include "ctiws.redisSentinelURL" .) (include "ctiws.redisClusterURL" .) -}}
{{- fail "redis.sentinel and redis.cluster are both set: a Redis is either Sentinel-managed or a Redis Cluster" -}}
{{- end -}}
{{- if and (not .Values.tenants) (not (.Values.tenantsDir | default dict).volume) -}}
{{- fail "tenants: at least one tenant is required (or tenantsDir.volume)" -}}
{{- end -}}
{{- $seen := dict -}}
{{- $hosts := dict -}}
{{- $jwt := dict -}}
{{- range .Values.tenants -}}
{{- if hasKey $seen .id -}}{{- fail (printf "tenant id %q is used twice" .id) -}}{{- end -}}
{{- $jid := .id -}}
{{- range list (.auth | default dict).jwtSecret (.auth | default dict).jwtSecretPrevious -}}
{{- if and . (not $.Values.secrets.existingSecret) -}}
{{- if and (hasKey $jwt (toString .)) (ne (get $jwt (toString .)) $jid) -}}{{- fail (printf "tenants %q and %q have the same JWT secret: a JWT without an audience would be valid for both; give every tenant its own auth.jwtSecret" (get $jwt (toString .)) $jid) -}}{{- end -}}
{{- $_ := set $jwt (toString .) $jid -}}
{{- end -}}
{{- end -}}
{{- $_ := set $seen .id true -}}
{{- if and (gt (len $.Values.tenants) 1) (not .hosts) -}}
{{- fail (printf "tenant %q: with several tenants every tenant needs hosts" .id) -}}
{{- end -}}
{{- $tid := .id -}}
{{- range .hosts -}}
{{- if hasKey $hosts (lower .) -}}{{- fail (printf "host %q is used by tenants %q and %q" . (get $hosts (lower .)) $tid) -}}{{- end -}}
{{- $_ := set $hosts (lower .) $tid -}}
{{- end -}}
{{- if not $.Values.secrets.existingSecret -}}
{{- if and (include "ctiws.tenantAmiSecret" .) (not (.ami | default dict).secret) -}}
{{- fail (printf "tenant %q: ami.secret is required unless secrets.existingSecret is set" .id) -}}
{{- end -}}
{{- if include "ctiws.tenantAuth" . -}}
{{- if not (.auth | default dict).jwtSecret -}}{{- fail (printf "tenant %q: auth.jwtSecret is required when auth is enabled (all nodes must share it) unless secrets.existingSecret is set" .id) -}}{{- end -}}
{{- if not (.auth | default dict).htpasswd -}}{{- fail (printf "tenant %q: auth.htpasswd is required when auth is enabled unless secrets.existingSecret is set" .id) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "true" when auth is on for a tenant (the argument): on unless auth.enabled is false. */}}
{{- define "ctiws.tenantAuth" -}}
{{- $a := .auth | default dict -}}
{{- if or (not (hasKey $a "enabled")) $a.enabled -}}true{{- end -}}
{{- end -}}

{{/* "true" when a tenant (the argument) needs an AMI secret: every address but "sim". */}}
{{- define "ctiws.tenantAmiSecret" -}}
{{- if ne ((.ami | default dict).address | default "") "sim" -}}true{{- end -}}
{{- end -}}

{{/* Keys of the tenant Secret, one per line: <id>-ami-secret, <id>-htpasswd, <id>-jwt-secret
and, during a JWT secret rotation, <id>-jwt-secret-previous. */}}
{{- define "ctiws.secretKeys" -}}
{{- range .Values.tenants }}
{{- if include "ctiws.tenantAmiSecret" . }}
{{ .id }}-ami-secret
{{- end }}
{{- if include "ctiws.tenantAuth" . }}
{{ .id }}-htpasswd
{{ .id }}-jwt-secret
{{- if (.auth | default dict).jwtSecretPrevious }}
{{ .id }}-jwt-secret-previous
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Renders a JSON file from a value that is either a string (kept as is) or an object/array. */}}
{{- define "ctiws.jsonFile" -}}
{{- if kindIs "string" . -}}{{ . }}{{- else -}}{{ toPrettyJson . }}{{- end -}}
{{- end -}}

{{/* The ctiws config file. */}}
{{- define "ctiws.configYaml" -}}
{{- $redisURL := "" -}}
{{- if and .Values.redis.enabled (not .Values.redis.url) (not .Values.redis.existingSecret) -}}
{{- $redisURL = printf "redis://%s:%d/0" (include "ctiws.redisName" .) (int .Values.redis.port) -}}
{{- end -}}
{{- $tenants := list -}}
{{- range .Values.tenants -}}
{{- $id := .id -}}
{{- $amiv := .ami | default dict -}}
{{- $ami := dict "address" ($amiv.address | default "") -}}
{{- with $amiv.username -}}{{- $_ := set $ami "username" . -}}{{- end -}}
{{- if include "ctiws.tenantAmiSecret" . -}}
{{- $_ := set $ami "secret_file" (printf "/etc/ctiws/secrets/%s-ami-secret" $id) -}}
{{- end -}}
{{- $auth := dict "enabled" false -}}
{{- if include "ctiws.tenantAuth" . -}}
{{- $auth = dict "enabled" true "htpasswd_file" (printf "/etc/ctiws/secrets/%s-htpasswd" $id) "jwt_secret_file" (printf "/etc/ctiws/secrets/%s-jwt-secret" $id) -}}
{{- if (.auth | default dict).jwtSecretPrevious -}}
{{- $_ := set $auth "jwt_secret_previous_file" (printf "/etc/ctiws/secrets/%s-jwt-secret-previous" $id) -}}
{{- end -}}
{{- end -}}
{{- $t := dict "id" $id "hosts" (.hosts | default list) "ami" $ami "auth" $auth -}}
{{- if hasKey . "privacyNumbers" -}}{{- $_ := set $t "privacy_numbers" .privacyNumbers -}}{{- end -}}
{{- $_ := set $t "users_file" (.usersFile | default (printf "/etc/ctiws/tenants/%s/users.json" $id)) -}}
{{- $_ := set $t "profiles_file" (.profilesFile | default (printf "/etc/ctiws/tenants/%s/profiles.json" $id)) -}}
{{- if .objectsFile -}}
{{- $_ := set $t "objects_file" .objectsFile -}}
{{- else if hasKey . "objects" -}}
{{- $_ := set $t "objects_file" (printf "/etc/ctiws/tenants/%s/objects.json" $id) -}}
{{- end -}}
{{- with .extra -}}{{- $t = mergeOverwrite $t (deepCopy .) -}}{{- end -}}
{{- $tenants = append $tenants $t -}}
{{- end -}}
{{- $c := .Values.config -}}
{{- $cfg := dict
  "log_level" $c.logLevel
  "listen" (printf "0.0.0.0:%d" (int .Values.containerPorts.http))
  "metrics_listen" (printf "0.0.0.0:%d" (int .Values.containerPorts.metrics))
  "redis_url" $redisURL
  "token_ttl" (toString $c.tokenTTL)
  "max_message_bytes" (int64 $c.maxMessageBytes)
  "drain_timeout" (toString $c.drainTimeout)
  "max_connection_lifetime" (toString $c.maxConnectionLifetime)
  "allowed_origins" ($c.allowedOrigins | default list)
  "jwt_max_lifetime" (toString ($c.jwtMaxLifetime | default "24h"))
  "trusted_proxies" ($c.trustedProxies | default list)
  "tenants" $tenants -}}
{{- $limitKeys := dict "httpReadTimeout" "http_read_timeout" "httpWriteTimeout" "http_write_timeout" "httpIdleTimeout" "http_idle_timeout" "httpMaxHeaderBytes" "http_max_header_bytes" "maxAvatarBytes" "max_avatar_bytes" "maxAvatarDimension" "max_avatar_dimension" "maxPostitBytes" "max_postit_bytes" "relayMaxBytes" "relay_max_bytes" "relayRate" "relay_rate" "relayBurst" "relay_burst" "relayDisconnectAfter" "relay_disconnect_after" -}}
{{- range $k, $v := ($c.limits | default dict) -}}
{{- if kindIs "string" $v -}}
{{- $_ := set $cfg (get $limitKeys $k) $v -}}
{{- else -}}
{{- $_ := set $cfg (get $limitKeys $k) (int64 $v) -}}
{{- end -}}
{{- end -}}
{{- if (.Values.tenantsDir | default dict).volume -}}{{- $_ := set $cfg "tenants_dir" "/etc/ctiws/tenants-dir" -}}{{- end -}}
{{- if .Values.console.enabled -}}
{{- $cc := .Values.console -}}
{{- $_ := set $cfg "console" (dict "htpasswd_file" "/etc/ctiws/console/htpasswd" "session_secret_file" "/etc/ctiws/console/session-secret"
  "unmasked_users" ($cc.unmaskedUsers | default list) "session_ttl" (toString ($cc.sessionTTL | default "8h")) "audit_max" (int ($cc.auditMax | default 1000))) -}}
{{- end -}}
{{- with $c.extra -}}{{- $cfg = mergeOverwrite $cfg (deepCopy .) -}}{{- end -}}
{{ toYaml $cfg }}
{{- end -}}

{{/* Selector labels of the trial Redis: a different name, so no ctiws selector matches it. */}}
{{- define "ctiws.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "ctiws.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{- define "ctiws.redisLabels" -}}
helm.sh/chart: {{ include "ctiws.chart" . }}
{{ include "ctiws.redisSelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.redis.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ctiws
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The redis+cluster:// URL built from redis.cluster ("" when not set; no credentials). */}}
{{- define "ctiws.redisClusterURL" -}}
{{- $c := .Values.redis.cluster | default dict -}}
{{- if $c.nodes -}}
{{- printf "%s://%s" (ternary "rediss+cluster" "redis+cluster" (default false $c.tls)) (join "," $c.nodes) -}}
{{- end -}}
{{- end -}}

{{/* The redis+sentinel:// URL built from redis.sentinel ("" when not set; no credentials). */}}
{{- define "ctiws.redisSentinelURL" -}}
{{- $s := .Values.redis.sentinel | default dict -}}
{{- if and $s.masterName $s.addresses -}}
{{- printf "%s://%s/%s" (ternary "rediss+sentinel" "redis+sentinel" (default false $s.tls)) (join "," $s.addresses) $s.masterName -}}
{{- end -}}
{{- end -}}
