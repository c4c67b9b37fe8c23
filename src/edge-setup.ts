import {
  BadRequestException,
  ValidationPipe,
  type INestApplication,
  type ValidationError,
} from '@nestjs/common';
import { AppExceptionFilter } from './http-exception.filter.js';

/** The first failed constraint of a validation, with the dotted path of its field (`filters.tickers`). */
export function firstValidationFailure(
  errors: readonly ValidationError[],
  parent = '',
): { field: string; message: string } | undefined {
  for (const e of errors) {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const constraint = e.constraints ? Object.values(e.constraints)[0] : undefined;
    if (constraint !== undefined) {
      const message = constraint.startsWith(`${e.property} `)
        ? field + constraint.slice(e.property.length)
        : `${field}: ${constraint}`;
      return { field, message };
    }
    const nested = firstValidationFailure(e.children ?? [], field);
    if (nested) return nested;
  }
  return undefined;
}

/** The app's validation pipe: whitelist, forbid unknown properties, transform; 400 naming the first bad field (`field`). */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => {
      const first = firstValidationFailure(errors) ?? { field: 'body', message: 'invalid input' };
      return new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: first.message,
        field: first.field,
      });
    },
  });
}

/** Global exception filter (errors → HTTP, see `toHttpError`) and validation pipe of the app. */
export function setupEdge(app: INestApplication): void {
  app.useGlobalFilters(new AppExceptionFilter());
  app.useGlobalPipes(createValidationPipe());
}
