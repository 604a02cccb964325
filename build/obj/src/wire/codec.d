build/obj/src/wire/codec.o: src/wire/codec.c src/wire/codec.h \
 src/common/buf.h include/cairn_errors.h src/common/limits.h
src/wire/codec.h:
src/common/buf.h:
include/cairn_errors.h:
src/common/limits.h:
