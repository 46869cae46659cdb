/*
 * Handlers of Qdrant.HealthCheck and of the Collections service.
 *
 * CreateCollection maps HNSW's m, ef_construct and full_scan_threshold,
 * scalar int8 quantization (collection-wide, then per vector) and
 * VectorParams.on_disk to the engine's settings.  It accepts and ignores
 * the settings that do not change what a client reads back: the other
 * HNSW fields (its on_disk among them), WAL and optimizer tuning,
 * on_disk_payload, timeout, shard_number,
 * replication_factor and write_consistency_factor of 1, sharding_method
 * Auto, datatype Float32.  It rejects with INVALID_ARGUMENT what it
 * cannot honour: sparse vectors, multivectors, product, binary and turbo
 * quantization, other datatypes, strict mode, metadata, custom sharding
 * and several shards or replicas.
 *
 * GetCollectionInfo returns each vector's quantization in its
 * VectorParams, and in CollectionConfig too when every vector has the
 * same one, because the engine stores it per vector only.  It sets
 * VectorParams.on_disk only when it is true, because the engine does not
 * record whether a client sent false or nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "strata_server.h"

#define OUT_OF_MEMORY(call)                                                    \
  api_fail((call), GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory")

grpc_status_code api_health_check(api_call *call,
                                  const ProtobufCMessage *request,
                                  ProtobufCMessage **response) {
  Qdrant__HealthCheckReply *reply = API_NEW(
      &call->arena, Qdrant__HealthCheckReply, QDRANT__HEALTH_CHECK_REPLY__INIT);
  if (reply == NULL)
    return OUT_OF_MEMORY(call);
  reply->title = "strata";
  reply->version = STRATA_SERVER_QDRANT_VERSION;
  reply->_commit_case = QDRANT__HEALTH_CHECK_REPLY___COMMIT_COMMIT;
  reply->commit = "strata " STRATA_VERSION_STRING;
  *response = &reply->base;
  return GRPC_STATUS_OK;
}

/* ------------------------------------------------------------------ */
/* Create                                                               */

/* Applies the fields of an HnswConfigDiff that are set to `config`. */
static grpc_status_code apply_hnsw(api_call *call, const char *label,
                                   const Qdrant__HnswConfigDiff *diff,
                                   strata_hnsw_config *config) {
  if (diff == NULL)
    return GRPC_STATUS_OK;
  if ((diff->_m_case == QDRANT__HNSW_CONFIG_DIFF___M_M &&
       diff->m > UINT32_MAX) ||
      (diff->_ef_construct_case ==
           QDRANT__HNSW_CONFIG_DIFF___EF_CONSTRUCT_EF_CONSTRUCT &&
       diff->ef_construct > UINT32_MAX) ||
      (diff->_full_scan_threshold_case ==
           QDRANT__HNSW_CONFIG_DIFF___FULL_SCAN_THRESHOLD_FULL_SCAN_THRESHOLD &&
       diff->full_scan_threshold > UINT32_MAX))
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "vector \"%s\": an HNSW setting is above 2^32-1", label);
  if (diff->_m_case == QDRANT__HNSW_CONFIG_DIFF___M_M) {
    if (diff->m == 0) {
      /* Qdrant's m=0 builds no graph, so every search scans exactly. */
      config->m = 0;
      config->full_scan_threshold_kb = UINT32_MAX;
    } else {
      config->m = (uint32_t)diff->m;
    }
  }
  if (diff->_ef_construct_case ==
      QDRANT__HNSW_CONFIG_DIFF___EF_CONSTRUCT_EF_CONSTRUCT)
    config->ef_construct = (uint32_t)diff->ef_construct;
  if (diff->_full_scan_threshold_case ==
          QDRANT__HNSW_CONFIG_DIFF___FULL_SCAN_THRESHOLD_FULL_SCAN_THRESHOLD &&
      config->full_scan_threshold_kb != UINT32_MAX) {
    /* 0 would mean the engine's default; Qdrant's 0 means "always use
     * the graph", which 1 KB comes closest to. */
    config->full_scan_threshold_kb =
        diff->full_scan_threshold > 0 ? (uint32_t)diff->full_scan_threshold : 1;
  }
  return GRPC_STATUS_OK;
}

/* Sets `out` from a QuantizationConfig when `config` is not NULL.  Only
 * scalar int8 is supported; the engine checks the quantile. */
static grpc_status_code
apply_quantization(api_call *call, const char *label,
                   const Qdrant__QuantizationConfig *config,
                   strata_quantization_config *out) {
  if (config == NULL)
    return GRPC_STATUS_OK;
  const char *method = NULL;
  switch (config->quantization_case) {
  case QDRANT__QUANTIZATION_CONFIG__QUANTIZATION_SCALAR:
    break;
  case QDRANT__QUANTIZATION_CONFIG__QUANTIZATION_PRODUCT:
    method = "product";
    break;
  case QDRANT__QUANTIZATION_CONFIG__QUANTIZATION_BINARY:
    method = "binary";
    break;
  case QDRANT__QUANTIZATION_CONFIG__QUANTIZATION_TURBOQUANT:
    method = "turbo";
    break;
  default:
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "vector \"%s\": quantization_config names no "
                    "quantization method; give scalar",
                    label);
  }
  if (method != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "vector \"%s\": %s quantization is not supported; use "
                    "scalar quantization with type Int8",
                    label, method);
  const Qdrant__ScalarQuantization *scalar = config->scalar;
  if (scalar == NULL || scalar->type != QDRANT__QUANTIZATION_TYPE__Int8)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "vector \"%s\": scalar quantization type %d is not "
                    "supported; use Int8 (1)",
                    label, scalar != NULL ? (int)scalar->type : 0);
  out->type = STRATA_QUANTIZATION_INT8;
  out->quantile = STRATA_DEFAULT_QUANTILE;
  out->always_ram = 0;
  if (scalar->_quantile_case == QDRANT__SCALAR_QUANTIZATION___QUANTILE_QUANTILE)
    out->quantile = scalar->quantile;
  if (scalar->_always_ram_case ==
      QDRANT__SCALAR_QUANTIZATION___ALWAYS_RAM_ALWAYS_RAM)
    out->always_ram = scalar->always_ram;
  return GRPC_STATUS_OK;
}

/* Checks one VectorParams and fills `out`.  `collection_hnsw` and
 * `collection_quantization` are the collection-wide settings, which the
 * vector's own override. */
static grpc_status_code vector_params(
    api_call *call, const char *name, const Qdrant__VectorParams *params,
    const Qdrant__HnswConfigDiff *collection_hnsw,
    const Qdrant__QuantizationConfig *collection_quantization,
    strata_vector_config *out) {
  char shown[96];
  const char *label = api_printable(name, shown, sizeof shown);
  grpc_status_code code = api_check_utf8(call, "vector name", name);
  if (code != GRPC_STATUS_OK)
    return code;
  if (params == NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "vector \"%s\": params are missing", label);
  if (params->size == 0 || params->size > STRATA_MAX_DIM)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "vector \"%s\": size %llu is out of range 1 to %d", label,
                    (unsigned long long)params->size, STRATA_MAX_DIM);
  switch (params->distance) {
  case QDRANT__DISTANCE__Cosine:
  case QDRANT__DISTANCE__Euclid:
  case QDRANT__DISTANCE__Dot:
  case QDRANT__DISTANCE__Manhattan:
    break;
  default:
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "vector \"%s\": distance %d is not one of Cosine, Euclid, "
                    "Dot, Manhattan",
                    label, (int)params->distance);
  }
  if (params->multivector_config != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "vector \"%s\": multivectors are not supported", label);
  if (params->_datatype_case == QDRANT__VECTOR_PARAMS___DATATYPE_DATATYPE &&
      params->datatype != QDRANT__DATATYPE__Default &&
      params->datatype != QDRANT__DATATYPE__Float32)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "vector \"%s\": datatype %d is not supported; only "
                    "Float32 is",
                    label, (int)params->datatype);
  out->name = name;
  out->dim = (uint32_t)params->size;
  out->distance = (strata_distance)params->distance;
  memset(&out->hnsw, 0, sizeof out->hnsw);
  code = apply_hnsw(call, label, collection_hnsw, &out->hnsw);
  if (code == GRPC_STATUS_OK)
    code = apply_hnsw(call, label, params->hnsw_config, &out->hnsw);
  memset(&out->quantization, 0, sizeof out->quantization);
  if (code == GRPC_STATUS_OK)
    code = apply_quantization(call, label,
                              params->quantization_config != NULL
                                  ? params->quantization_config
                                  : collection_quantization,
                              &out->quantization);
  out->on_disk = params->_on_disk_case ==
                     QDRANT__VECTOR_PARAMS___ON_DISK_ON_DISK &&
                 params->on_disk;
  return code;
}

/* Rejects the collection settings that Strata cannot honour. */
static grpc_status_code check_unsupported(api_call *call,
                                          const Qdrant__CreateCollection *req) {
  const char *unsupported = NULL;
  if (req->sparse_vectors_config != NULL &&
      req->sparse_vectors_config->n_map > 0)
    unsupported = "sparse vectors are";
  else if (req->strict_mode_config != NULL)
    unsupported = "strict mode is";
  else if (req->n_metadata > 0)
    unsupported = "collection metadata is";
  else if (req->_sharding_method_case ==
               QDRANT__CREATE_COLLECTION___SHARDING_METHOD_SHARDING_METHOD &&
           req->sharding_method != QDRANT__SHARDING_METHOD__Auto)
    unsupported = "custom sharding is";
  else if (req->_shard_number_case ==
               QDRANT__CREATE_COLLECTION___SHARD_NUMBER_SHARD_NUMBER &&
           req->shard_number > 1)
    unsupported = "shard_number above 1 is";
  else if (
      req->_replication_factor_case ==
          QDRANT__CREATE_COLLECTION___REPLICATION_FACTOR_REPLICATION_FACTOR &&
      req->replication_factor > 1)
    unsupported = "replication_factor above 1 is";
  else if (
      req->_write_consistency_factor_case ==
          QDRANT__CREATE_COLLECTION___WRITE_CONSISTENCY_FACTOR_WRITE_CONSISTENCY_FACTOR &&
      req->write_consistency_factor > 1)
    unsupported = "write_consistency_factor above 1 is";
  if (unsupported != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s not supported",
                    unsupported);
  return GRPC_STATUS_OK;
}

grpc_status_code api_collections_create(api_call *call,
                                        const ProtobufCMessage *request,
                                        ProtobufCMessage **response) {
  const Qdrant__CreateCollection *req =
      (const Qdrant__CreateCollection *)request;
  struct timespec start;
  grpc_status_code code;

  api_clock_start(&start);
  code = api_check_collection_name(call, req->collection_name);
  if (code == GRPC_STATUS_OK)
    code = check_unsupported(call, req);
  if (code != GRPC_STATUS_OK)
    return code;

  const Qdrant__VectorsConfig *vc = req->vectors_config;
  strata_vector_config *vectors = NULL;
  size_t n_vectors = 0;
  if (vc != NULL && vc->config_case == QDRANT__VECTORS_CONFIG__CONFIG_PARAMS) {
    vectors = api_alloc(&call->arena, sizeof *vectors);
    if (vectors == NULL)
      return OUT_OF_MEMORY(call);
    code = vector_params(call, "", vc->params, req->hnsw_config,
                         req->quantization_config, &vectors[0]);
    n_vectors = 1;
  } else if (vc != NULL &&
             vc->config_case == QDRANT__VECTORS_CONFIG__CONFIG_PARAMS_MAP &&
             vc->params_map != NULL && vc->params_map->n_map > 0) {
    const Qdrant__VectorParamsMap *map = vc->params_map;
    vectors = api_alloc(&call->arena, map->n_map * sizeof *vectors);
    if (vectors == NULL)
      return OUT_OF_MEMORY(call);
    for (size_t i = 0; i < map->n_map && code == GRPC_STATUS_OK; i++) {
      const char *name = map->map[i]->key ? map->map[i]->key : "";
      /* A repeated name replaces the earlier entry, as in any map. */
      size_t slot = n_vectors;
      for (size_t j = 0; j < n_vectors; j++)
        if (strcmp(vectors[j].name, name) == 0)
          slot = j;
      code = vector_params(call, name, map->map[i]->value, req->hnsw_config,
                           req->quantization_config, &vectors[slot]);
      if (slot == n_vectors)
        n_vectors++;
    }
  } else {
    /* TODO: a collection with sparse vectors only needs sparse support
     * in the engine. */
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "vectors_config is missing: give params (one unnamed "
                    "vector) or a params_map of named vectors");
  }
  if (code != GRPC_STATUS_OK)
    return code;

  strata_collection_config config = {.vectors = vectors,
                                     .n_vectors = n_vectors};
  strata_status st =
      strata_collection_create(call->db, req->collection_name, &config);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);

  Qdrant__CollectionOperationResponse *out =
      API_NEW(&call->arena, Qdrant__CollectionOperationResponse,
              QDRANT__COLLECTION_OPERATION_RESPONSE__INIT);
  if (out == NULL)
    return OUT_OF_MEMORY(call);
  out->result = 1;
  out->time = api_elapsed(&start);
  *response = &out->base;
  return GRPC_STATUS_OK;
}

/* ------------------------------------------------------------------ */
/* Get, List, Delete, CollectionExists                                  */

static Qdrant__HnswConfigDiff *hnsw_out(api_call *call,
                                        const strata_hnsw_config *config) {
  Qdrant__HnswConfigDiff *h = API_NEW(&call->arena, Qdrant__HnswConfigDiff,
                                      QDRANT__HNSW_CONFIG_DIFF__INIT);
  if (h != NULL) {
    h->_m_case = QDRANT__HNSW_CONFIG_DIFF___M_M;
    h->m = config->m;
    h->_ef_construct_case =
        QDRANT__HNSW_CONFIG_DIFF___EF_CONSTRUCT_EF_CONSTRUCT;
    h->ef_construct = config->ef_construct;
    h->_full_scan_threshold_case =
        QDRANT__HNSW_CONFIG_DIFF___FULL_SCAN_THRESHOLD_FULL_SCAN_THRESHOLD;
    h->full_scan_threshold = config->full_scan_threshold_kb;
  }
  return h;
}

/* Describes an int8 config as a QuantizationConfig; NULL when out of
 * memory. */
static Qdrant__QuantizationConfig *
quantization_out(api_call *call, const strata_quantization_config *config) {
  Qdrant__QuantizationConfig *q =
      API_NEW(&call->arena, Qdrant__QuantizationConfig,
              QDRANT__QUANTIZATION_CONFIG__INIT);
  Qdrant__ScalarQuantization *scalar =
      API_NEW(&call->arena, Qdrant__ScalarQuantization,
              QDRANT__SCALAR_QUANTIZATION__INIT);
  if (q == NULL || scalar == NULL)
    return NULL;
  scalar->type = QDRANT__QUANTIZATION_TYPE__Int8;
  scalar->_quantile_case = QDRANT__SCALAR_QUANTIZATION___QUANTILE_QUANTILE;
  scalar->quantile = config->quantile;
  scalar->_always_ram_case =
      QDRANT__SCALAR_QUANTIZATION___ALWAYS_RAM_ALWAYS_RAM;
  scalar->always_ram = config->always_ram != 0;
  q->quantization_case = QDRANT__QUANTIZATION_CONFIG__QUANTIZATION_SCALAR;
  q->scalar = scalar;
  return q;
}

static Qdrant__VectorParams *params_out(api_call *call,
                                        const strata_vector_config *v) {
  Qdrant__VectorParams *p =
      API_NEW(&call->arena, Qdrant__VectorParams, QDRANT__VECTOR_PARAMS__INIT);
  if (p != NULL) {
    p->size = v->dim;
    p->distance = (Qdrant__Distance)v->distance;
    p->hnsw_config = hnsw_out(call, &v->hnsw);
    if (p->hnsw_config == NULL)
      return NULL;
    if (v->quantization.type == STRATA_QUANTIZATION_INT8) {
      p->quantization_config = quantization_out(call, &v->quantization);
      if (p->quantization_config == NULL)
        return NULL;
    }
    if (v->on_disk) {
      p->_on_disk_case = QDRANT__VECTOR_PARAMS___ON_DISK_ON_DISK;
      p->on_disk = 1;
    }
  }
  return p;
}

/* Nonzero when every vector has the same int8 quantization config. */
static int same_quantization(const strata_collection_info *info) {
  const strata_quantization_config *first = &info->vectors[0].quantization;
  if (first->type != STRATA_QUANTIZATION_INT8)
    return 0;
  for (size_t i = 1; i < info->n_vectors; i++) {
    const strata_quantization_config *q = &info->vectors[i].quantization;
    if (q->type != first->type || q->quantile != first->quantile ||
        (q->always_ram != 0) != (first->always_ram != 0))
      return 0;
  }
  return 1;
}

/* Describes the vectors of a collection as a VectorsConfig: `params` for
 * a lone unnamed vector, else the map. */
static Qdrant__VectorsConfig *
vectors_config_out(api_call *call, const strata_collection_info *info) {
  Qdrant__VectorsConfig *vc = API_NEW(&call->arena, Qdrant__VectorsConfig,
                                      QDRANT__VECTORS_CONFIG__INIT);
  if (vc == NULL)
    return NULL;
  if (info->n_vectors == 1 && info->vectors[0].name[0] == '\0') {
    vc->config_case = QDRANT__VECTORS_CONFIG__CONFIG_PARAMS;
    vc->params = params_out(call, &info->vectors[0]);
    return vc->params ? vc : NULL;
  }
  Qdrant__VectorParamsMap *map = API_NEW(&call->arena, Qdrant__VectorParamsMap,
                                         QDRANT__VECTOR_PARAMS_MAP__INIT);
  if (map == NULL)
    return NULL;
  map->map = api_alloc(&call->arena, (info->n_vectors + 1) * sizeof *map->map);
  if (map->map == NULL)
    return NULL;
  for (size_t i = 0; i < info->n_vectors; i++) {
    Qdrant__VectorParamsMap__MapEntry *e =
        API_NEW(&call->arena, Qdrant__VectorParamsMap__MapEntry,
                QDRANT__VECTOR_PARAMS_MAP__MAP_ENTRY__INIT);
    if (e == NULL)
      return NULL;
    /* The engine does not check that names are UTF-8, and clients cannot
     * decode a response that is not. */
    char shown[STRATA_MAX_VECTOR_NAME + 4];
    e->key = api_strdup(&call->arena, api_printable(info->vectors[i].name,
                                                    shown, sizeof shown));
    e->value = params_out(call, &info->vectors[i]);
    if (e->key == NULL || e->value == NULL)
      return NULL;
    map->map[map->n_map++] = e;
  }
  vc->config_case = QDRANT__VECTORS_CONFIG__CONFIG_PARAMS_MAP;
  vc->params_map = map;
  return vc;
}

static grpc_status_code info_out(api_call *call,
                                 const strata_collection_info *info,
                                 Qdrant__CollectionInfo **out) {
  api_arena *a = &call->arena;
  Qdrant__CollectionInfo *ci =
      API_NEW(a, Qdrant__CollectionInfo, QDRANT__COLLECTION_INFO__INIT);
  Qdrant__OptimizerStatus *os =
      API_NEW(a, Qdrant__OptimizerStatus, QDRANT__OPTIMIZER_STATUS__INIT);
  Qdrant__CollectionConfig *cc =
      API_NEW(a, Qdrant__CollectionConfig, QDRANT__COLLECTION_CONFIG__INIT);
  Qdrant__CollectionParams *params =
      API_NEW(a, Qdrant__CollectionParams, QDRANT__COLLECTION_PARAMS__INIT);
  /* The collection-wide HNSW setting shown is the first vector's. */
  Qdrant__HnswConfigDiff *hnsw = hnsw_out(call, &info->vectors[0].hnsw);
  Qdrant__OptimizersConfigDiff *opt = API_NEW(
      a, Qdrant__OptimizersConfigDiff, QDRANT__OPTIMIZERS_CONFIG_DIFF__INIT);
  Qdrant__WalConfigDiff *wal =
      API_NEW(a, Qdrant__WalConfigDiff, QDRANT__WAL_CONFIG_DIFF__INIT);
  if (ci == NULL || os == NULL || cc == NULL || params == NULL ||
      hnsw == NULL || opt == NULL || wal == NULL)
    return OUT_OF_MEMORY(call);

  params->shard_number = 1;
  params->vectors_config = vectors_config_out(call, info);
  if (params->vectors_config == NULL)
    return OUT_OF_MEMORY(call);
  params->_replication_factor_case =
      QDRANT__COLLECTION_PARAMS___REPLICATION_FACTOR_REPLICATION_FACTOR;
  params->replication_factor = 1;
  params->_write_consistency_factor_case =
      QDRANT__COLLECTION_PARAMS___WRITE_CONSISTENCY_FACTOR_WRITE_CONSISTENCY_FACTOR;
  params->write_consistency_factor = 1;
  cc->params = params;
  cc->hnsw_config = hnsw;
  cc->optimizer_config = opt;
  cc->wal_config = wal;
  if (same_quantization(info)) {
    cc->quantization_config =
        quantization_out(call, &info->vectors[0].quantization);
    if (cc->quantization_config == NULL)
      return OUT_OF_MEMORY(call);
  }

  os->ok = 1;
  os->error = "";
  ci->status = QDRANT__COLLECTION_STATUS__Green;
  ci->optimizer_status = os;
  ci->segments_count = 1;
  ci->config = cc;
  ci->_points_count_case = QDRANT__COLLECTION_INFO___POINTS_COUNT_POINTS_COUNT;
  ci->points_count = info->points_count;
  ci->_indexed_vectors_count_case =
      QDRANT__COLLECTION_INFO___INDEXED_VECTORS_COUNT_INDEXED_VECTORS_COUNT;
  ci->indexed_vectors_count = info->indexed_vectors_count;
  *out = ci;
  return GRPC_STATUS_OK;
}

grpc_status_code api_collections_get(api_call *call,
                                     const ProtobufCMessage *request,
                                     ProtobufCMessage **response) {
  const Qdrant__GetCollectionInfoRequest *req =
      (const Qdrant__GetCollectionInfoRequest *)request;
  struct timespec start;
  strata_collection_info *info = NULL;

  api_clock_start(&start);
  grpc_status_code code = api_check_collection_name(call, req->collection_name);
  if (code != GRPC_STATUS_OK)
    return code;
  strata_status st =
      strata_collection_describe(call->db, req->collection_name, &info);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);

  Qdrant__GetCollectionInfoResponse *out =
      API_NEW(&call->arena, Qdrant__GetCollectionInfoResponse,
              QDRANT__GET_COLLECTION_INFO_RESPONSE__INIT);
  code = out ? info_out(call, info, &out->result) : OUT_OF_MEMORY(call);
  strata_collection_info_free(info);
  if (code != GRPC_STATUS_OK)
    return code;
  out->time = api_elapsed(&start);
  *response = &out->base;
  return GRPC_STATUS_OK;
}

grpc_status_code api_collections_list(api_call *call,
                                      const ProtobufCMessage *request,
                                      ProtobufCMessage **response) {
  struct timespec start;
  char **names = NULL;

  api_clock_start(&start);
  strata_status st = strata_collection_list(call->db, &names);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);
  size_t n = 0;
  while (names[n] != NULL)
    n++;

  Qdrant__ListCollectionsResponse *out =
      API_NEW(&call->arena, Qdrant__ListCollectionsResponse,
              QDRANT__LIST_COLLECTIONS_RESPONSE__INIT);
  Qdrant__CollectionDescription **list =
      api_alloc(&call->arena, (n + 1) * sizeof *list);
  grpc_status_code code = out && list ? GRPC_STATUS_OK : OUT_OF_MEMORY(call);
  size_t listed = 0;
  for (size_t i = 0; i < n && code == GRPC_STATUS_OK; i++) {
    /* A name that is not UTF-8 (the engine does not check) would make
     * the whole response undecodable: leave it out. */
    if (!api_is_utf8(names[i])) {
      char shown[96];
      strata_server_log("List: collection \"%s\" left out: its name is not "
                        "valid UTF-8",
                        api_printable(names[i], shown, sizeof shown));
      continue;
    }
    Qdrant__CollectionDescription *d =
        API_NEW(&call->arena, Qdrant__CollectionDescription,
                QDRANT__COLLECTION_DESCRIPTION__INIT);
    if (d == NULL || (d->name = api_strdup(&call->arena, names[i])) == NULL)
      code = OUT_OF_MEMORY(call);
    else
      list[listed++] = d;
  }
  strata_names_free(names);
  if (code != GRPC_STATUS_OK)
    return code;
  out->n_collections = listed;
  out->collections = list;
  out->time = api_elapsed(&start);
  *response = &out->base;
  return GRPC_STATUS_OK;
}

grpc_status_code api_collections_delete(api_call *call,
                                        const ProtobufCMessage *request,
                                        ProtobufCMessage **response) {
  const Qdrant__DeleteCollection *req =
      (const Qdrant__DeleteCollection *)request;
  struct timespec start;

  api_clock_start(&start);
  grpc_status_code code = api_check_collection_name(call, req->collection_name);
  if (code != GRPC_STATUS_OK)
    return code;
  strata_status st = strata_collection_drop(call->db, req->collection_name);
  /* As in Qdrant, deleting a missing collection succeeds with false. */
  if (st != STRATA_OK && st != STRATA_ERR_NOT_FOUND)
    return api_fail_engine(call, st);

  Qdrant__CollectionOperationResponse *out =
      API_NEW(&call->arena, Qdrant__CollectionOperationResponse,
              QDRANT__COLLECTION_OPERATION_RESPONSE__INIT);
  if (out == NULL)
    return OUT_OF_MEMORY(call);
  out->result = st == STRATA_OK;
  out->time = api_elapsed(&start);
  *response = &out->base;
  return GRPC_STATUS_OK;
}

grpc_status_code api_collections_exists(api_call *call,
                                        const ProtobufCMessage *request,
                                        ProtobufCMessage **response) {
  const Qdrant__CollectionExistsRequest *req =
      (const Qdrant__CollectionExistsRequest *)request;
  struct timespec start;
  strata_collection_info *info = NULL;

  api_clock_start(&start);
  grpc_status_code code = api_check_collection_name(call, req->collection_name);
  if (code != GRPC_STATUS_OK)
    return code;
  strata_status st =
      strata_collection_describe(call->db, req->collection_name, &info);
  if (st != STRATA_OK && st != STRATA_ERR_NOT_FOUND)
    return api_fail_engine(call, st);
  strata_collection_info_free(info);

  Qdrant__CollectionExistsResponse *out =
      API_NEW(&call->arena, Qdrant__CollectionExistsResponse,
              QDRANT__COLLECTION_EXISTS_RESPONSE__INIT);
  Qdrant__CollectionExists *exists = API_NEW(
      &call->arena, Qdrant__CollectionExists, QDRANT__COLLECTION_EXISTS__INIT);
  if (out == NULL || exists == NULL)
    return OUT_OF_MEMORY(call);
  exists->exists = st == STRATA_OK;
  out->result = exists;
  out->time = api_elapsed(&start);
  *response = &out->base;
  return GRPC_STATUS_OK;
}
