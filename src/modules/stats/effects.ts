import type { EffectScope, PlanContext } from '../../platform/db/effects.ts'
import { STATS_SHARDS, type StatsScope } from './repository.ts'

/**
 * The stats rows an effect's delta goes to: its project and mode, on the shard of the batch it runs
 * in, so concurrent batches never queue on one stats row (readers sum the shards).
 */
export const statsEffectScope = (scope: EffectScope, ctx: PlanContext): StatsScope =>
  ({ developerId: scope.project.developerId, projectId: scope.project.id, mode: scope.mode, shard: ctx.slot % STATS_SHARDS })
