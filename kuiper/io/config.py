"""Connector configuration files: `{root}/etc/sources/{type}.yaml`, sections by CONF_KEY.

Every file takes eKuiper's environment overrides (kuiper/runtime/conf.py): the file's name
upper-cased, then `__`-separated keys: `MQTT_SOURCE__DEFAULT__SERVER=tcp://h:1883` sets
`default.server` of `etc/mqtt_source.yaml`; `FILE__DEFAULT__INTERVAL=5000` the file source.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from kuiper.errors import ConfigError
from kuiper.runtime.conf import load_file

log = logging.getLogger(__name__)

# Types whose file does not follow etc/sources/{type}.yaml (eKuiper's historical names).
SPECIAL_FILES = {"mqtt": os.path.join("etc", "mqtt_source.yaml")}


def source_conf_path(root: str, source_type: str) -> str:
    rel = SPECIAL_FILES.get(source_type.lower(), os.path.join("etc", "sources", f"{source_type}.yaml"))
    return os.path.join(root, rel)


# eKuiper restores the camelCase of a property an env variable names from the connector's
# metadata JSON; these are the names kuiper's connectors read (lower case otherwise).
KNOWN_PROPS = (
    "actionAfterRead", "batchSize", "bodyType", "bufferLength", "bufferPageSize",
    "cacheLength", "cacheSaveInterval", "certificationPath", "cleanCacheAtStop", "clientId",
    "connectTimeout", "connectionSelector", "contentType", "correlationData", "createStream",
    "dataField", "dataTemplate", "dataType", "dateTimeFormat", "debugResp", "deliverPolicy",
    "enableCache", "excludeFields", "fileType", "hasHeader", "httpServerIp", "httpServerPort",
    "ignoreEndLines", "ignoreStartLines", "indexField", "indexFieldType", "indexFields",
    "indexValue", "insecureSkipVerify", "internalSqlQueryCfg", "isTable", "keyField", "keyType",
    "kubeedgeModelFile", "kubeedgeVersion", "lingerInterval", "maxDiskCache", "maxInflight",
    "memoryCacheThreshold", "messageExpiryInterval", "moveTo", "omitIfEmpty", "privateKeyPath",
    "protocolVersion", "reconnectInterval", "resendAlterQueue", "resendDestination",
    "resendIndicatorField", "resendInterval", "resendPriority", "resourceId", "responseTopic",
    "responseType", "retryCount", "retryInterval", "rootCaPath", "rowkindField", "runAsync",
    "schemaId", "sendInterval", "sendSingle", "tableDataField", "tableName", "templateSql",
    "templateSqlQueryCfg", "userProperties",
)


def load_yaml_sections(path: str) -> dict[str, dict[str, Any]]:
    """The sections of a connector yaml file with its env overrides applied ({} if the file
    does not exist and no variable names it)."""
    data = load_file(path, known=KNOWN_PROPS)
    return {str(k): dict(v or {}) for k, v in data.items() if isinstance(v, dict | None)}


def load_source_conf(root: str, source_type: str, conf_key: str = "default") -> dict[str, Any]:
    """The `default` section overridden by the `conf_key` section."""
    path = source_conf_path(root, source_type)
    sections = load_yaml_sections(path)
    conf = dict(sections.get("default", {}))
    if conf_key and conf_key != "default":
        if conf_key not in sections:
            raise ConfigError(
                f"CONF_KEY '{conf_key}' not found in {path}",
                hint=f"add a '{conf_key}:' section to {path} or fix the stream's CONF_KEY",
            )
        conf.update(sections[conf_key])
    return conf
