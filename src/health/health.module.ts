import { Module } from '@nestjs/common';

/** `/health/live`, `/health/ready`, `/health/detailed`. */
@Module({})
export class HealthModule {}
