build/obj/src/common/errors.o: src/common/errors.c include/cairn_errors.h \
 src/common/assert.h
include/cairn_errors.h:
src/common/assert.h:
